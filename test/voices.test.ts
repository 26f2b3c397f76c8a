/**
 * Voice cloning: POST /v1/voices (raw WAV and multipart), the voice served at once over the
 * WebSocket and /v1/audio/speech, listed by GET /v1/voices, typed errors for bad uploads,
 * DELETE, and persistence across a restart on the same voices directory.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../src/app.js";
import { decodeWav, encodeWav } from "../src/pipeline/audio/wav.js";
import { sha256Hex } from "../src/server/auth.js";
import { parseMultipart } from "../src/server/voices.js";
import { leadingWords } from "../src/synth/voice-cloner.js";
import { prepareSpeech, prepareSpeechOffThread } from "../src/synth/speech-prep.js";
import { ServiceError } from "../src/errors.js";
import { createApp } from "../src/app.js";
import net from "node:net";
import { FIXTURE_MODEL, sleep, startTestServer, TestClient } from "./helpers.js";

const work = mkdtempSync(join(tmpdir(), "soundstorm-voices-"));
const voicesDir = join(work, "data", "voices"); // does not exist yet: created by the first clone
const TRANSCRIPT = "The quick brown fox jumps over the lazy dog, and then it runs far away.";
const MAX_UPLOAD = 1536 * 1024;

function flite(text: string, out: string): Buffer {
  const r = spawnSync("flite", ["-voice", "slt", "-t", text, "-o", out], { encoding: "utf8" });
  assert.equal(r.status, 0, `flite: ${r.stderr}`);
  return readFileSync(out);
}

/** A WAV of a 220 Hz tone of `toneS` seconds between `padS` seconds of silence on each side. */
function toneWav(toneS: number, padS = 0.5, rate = 16000): Buffer {
  const pcm = new Float32Array(Math.round((toneS + 2 * padS) * rate));
  const a = Math.round(padS * rate), b = a + Math.round(toneS * rate);
  for (let i = a; i < b; i++) pcm[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / rate);
  return Buffer.from(encodeWav(pcm, rate));
}

let app: App;
let speechWav: Buffer;
let stereoWav: Buffer;
const base = () => `http://127.0.0.1:${app.port}`;

before(async () => {
  speechWav = flite(TRANSCRIPT, join(work, "speech.wav"));
  // the same speech as 44.1 kHz stereo: downmixed and resampled by the server
  const r = spawnSync("ffmpeg", ["-v", "error", "-y", "-i", join(work, "speech.wav"), "-ar", "44100", "-ac", "2", join(work, "stereo.wav")]);
  assert.equal(r.status, 0, r.stderr.toString());
  stereoWav = readFileSync(join(work, "stereo.wav"));
  app = await startTestServer({ voices: { dir: voicesDir, maxUploadBytes: MAX_UPLOAD } });
});
after(async () => { await app?.close(); });

type Json = Record<string, unknown>;

async function postRaw(query: Record<string, string>, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${base()}/v1/voices?${new URLSearchParams(query)}`, {
    method: "POST", headers: { "content-type": "audio/wav", ...headers }, body: typeof body === "string" ? body : new Uint8Array(body),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

async function postForm(fields: Record<string, string>, wav: Buffer): Promise<{ status: number; json: Json }> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append("file", new Blob([new Uint8Array(wav)], { type: "audio/wav" }), "voice.wav");
  const res = await fetch(`${base()}/v1/voices`, { method: "POST", body: fd });
  return { status: res.status, json: (await res.json()) as Json };
}

async function listVoices(port = app.port, headers: Record<string, string> = {}): Promise<Json[]> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/voices`, { headers });
  assert.equal(res.status, 200);
  return ((await res.json()) as { voices: Json[] }).voices;
}

const errCode = (j: Json) => (j.error as { code: string } | undefined)?.code;

/** Drive one WebSocket context with `voice` to the end; returns the PCM sample count. */
async function speakOverSocket(port: number, voice: string): Promise<number> {
  const c = await TestClient.connect(port);
  try {
    const hello = c.events.find((e) => e.type === "hello") as { voices: string[] };
    assert.ok(hello.voices.includes(voice), `hello.voices ${hello.voices} lacks ${voice}`);
    c.send({ type: "create_context", context_id: "v", voice, format: "pcm_s16le", pacing: "burst" });
    const created = await c.nextEvent("context_created", "v");
    c.send({ type: "append_text", context_id: "v", text: "Hello there. This is a cloned voice, speaking two sentences." });
    c.send({ type: "end", context_id: "v" });
    const done = await c.nextEvent("context_done", "v", 60_000);
    assert.equal(done.cancelled, false);
    assert.ok(!c.events.some((e) => e.type === "error"), JSON.stringify(c.events.filter((e) => e.type === "error")));
    const bytes = c.frames.filter((f) => f.header.contextIndex === created.context_index).reduce((a, f) => a + f.payload.length, 0);
    assert.equal(bytes / 2, done.summary.audio_samples);
    assert.ok(done.summary.audio_samples > 0);
    return done.summary.audio_samples;
  } finally {
    c.close();
  }
}

test("raw WAV with a transcript: 201 with the voice, stored on disk, listed, served over the socket and /v1/audio/speech", async () => {
  const r = await postRaw({ name: "alice", transcript: TRANSCRIPT }, speechWav);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.name, "alice");
  assert.equal(r.json.voice_id, "alice");
  assert.equal(r.json.source, "cloned");
  assert.equal(r.json.has_transcript, true);
  const frames = r.json.frames as number;
  // fixture: 50 Hz frames, semantic repeat 2; the prompt is at most 4 s (and a little padding)
  assert.ok(Number.isInteger(frames) && frames % 2 === 0, `frames ${frames}`);
  assert.ok(frames >= 150 && frames <= 202, `frames ${frames}`);
  assert.equal(r.json.prompt_seconds, frames / 50);
  assert.ok((r.json.speech_seconds as number) > 3.5 && (r.json.speech_seconds as number) < 5, `speech ${r.json.speech_seconds}`);
  // the prompt keeps about the first 4 s of ~4.2 s of speech: the transcript's phonemes are cut to match
  const ph = r.json.phonemes as string;
  assert.match(ph, /^ðə kwˈɪk/);
  assert.ok(!ph.includes("ɐwˈeɪ"), `phonemes not cut: ${ph}`);

  const file = join(voicesDir, "alice.json");
  assert.ok(existsSync(file));
  const stored = JSON.parse(readFileSync(file, "utf8")) as Json;
  assert.equal(stored.model, "fixture");
  assert.equal(stored.transcript, TRANSCRIPT);
  assert.equal((stored.acoustic as number[][]).length, frames);
  assert.ok((stored.acoustic as number[][]).every((row) => row.length === 4));
  assert.equal((stored.semantic as number[]).length, frames / 2);

  const listed = (await listVoices()).find((v) => v.name === "alice");
  assert.ok(listed);
  assert.equal(listed.source, "cloned");
  assert.equal(listed.prompt_seconds, frames / 50);
  assert.equal((await listVoices()).find((v) => v.name === "slt")?.source, "builtin");

  await speakOverSocket(app.port, "alice");

  const res = await fetch(`${base()}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "x", input: "Hello from a cloned voice.", voice: "alice", response_format: "pcm" }) });
  assert.equal(res.status, 200);
  assert.ok((await res.arrayBuffer()).byteLength > 0);
});

test("multipart/form-data, 44.1 kHz stereo, no transcript: a voice without phonemes that still speaks", async () => {
  const r = await postForm({ name: "bob_2", description: "Bob, from a stereo file" }, stereoWav);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json.name, "bob_2");
  assert.equal(r.json.description, "Bob, from a stereo file");
  assert.equal(r.json.has_transcript, false);
  assert.equal(r.json.phonemes, "");
  const alice = (await listVoices()).find((v) => v.name === "alice")!;
  // same speech as alice's upload, at another rate and channel count
  assert.ok(Math.abs((r.json.prompt_seconds as number) - (alice.prompt_seconds as number)) <= 0.1, `${r.json.prompt_seconds} vs ${alice.prompt_seconds}`);
  assert.ok(await speakOverSocket(app.port, "bob_2") > 0);
});

test("bad uploads get typed errors", async () => {
  // one after another: uploads beyond voices.maxConcurrentUploads (2) at once are refused with at_capacity
  const cases: [string, () => Promise<{ status: number; json: Json }>, number, string][] = [
    ["not a WAV", () => postRaw({ name: "x1" }, "this is not audio"), 400, "invalid_audio"],
    ["truncated header", () => postRaw({ name: "x2" }, speechWav.subarray(0, 30)), 400, "invalid_audio"],
    ["1.5 s of sound in 5.5 s", () => postRaw({ name: "x3" }, toneWav(1.5, 2)), 400, "audio_too_short"],
    ["silence", () => postRaw({ name: "x4" }, toneWav(0, 2)), 400, "audio_too_short"],
    ["12 s of sound", () => postRaw({ name: "x5" }, toneWav(12)), 400, "audio_too_long"],
    ["31 s of audio", () => postRaw({ name: "x6" }, toneWav(5, 13)), 400, "audio_too_long"],
    ["no name", () => postRaw({}, speechWav), 400, "invalid_voice_name"],
    ["path in name", () => postRaw({ name: "../etc" }, speechWav), 400, "invalid_voice_name"],
    ["long name", () => postRaw({ name: "a".repeat(65) }, speechWav), 400, "invalid_voice_name"],
    ["built-in name", () => postRaw({ name: "slt" }, speechWav), 409, "builtin_voice"],
    ["built-in name, other case", () => postRaw({ name: "SLT" }, speechWav), 409, "builtin_voice"],
    ["existing clone", () => postRaw({ name: "Alice" }, speechWav), 409, "voice_exists"],
    ["unspeakable transcript", () => postRaw({ name: "x7", transcript: "?!" }, speechWav), 400, "no_speakable_text"],
    ["transcript too long", () => postRaw({ name: "x8", transcript: "word ".repeat(300) }, speechWav), 400, "text_too_long"],
    ["multipart without file", async () => {
      const fd = new FormData();
      fd.append("name", "x9");
      const res = await fetch(`${base()}/v1/voices`, { method: "POST", body: fd });
      return { status: res.status, json: (await res.json()) as Json };
    }, 400, "invalid_message"],
    // a page elsewhere may post these without a CORS preflight
    ["text/plain", () => postRaw({ name: "x10" }, speechWav, { "content-type": "text/plain" }), 415, "invalid_message"],
    ["form-urlencoded", () => postRaw({ name: "x11" }, speechWav, { "content-type": "application/x-www-form-urlencoded" }), 415, "invalid_message"],
    ["multipart from a browser page, no keys", async () => {
      const fd = new FormData();
      fd.append("name", "x12");
      fd.append("file", new Blob([new Uint8Array(speechWav)], { type: "audio/wav" }), "voice.wav");
      const res = await fetch(`${base()}/v1/voices`, { method: "POST", body: fd, headers: { "sec-fetch-site": "same-site" } });
      return { status: res.status, json: (await res.json()) as Json };
    }, 415, "invalid_message"],
  ];
  for (const [what, post, status, code] of cases) {
    const r = await post();
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(errCode(r.json), code, `${what}: ${JSON.stringify(r.json)}`);
  }
  const names = (await listVoices()).map((v) => v.name);
  for (const n of ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12"]) assert.ok(!names.includes(n));
});

/** A raw POST /v1/voices whose head declares `length` bytes of body and sends `sent` of them; the answer comes in `answer`. */
function rawUpload(query: string, length: number, sent: number): { sock: net.Socket; answer: Promise<string> } {
  const sock = net.connect(app.port, "127.0.0.1");
  sock.on("error", () => {});
  sock.write(`POST /v1/voices?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\nContent-Length: ${length}\r\n\r\n`);
  if (sent) sock.write(Buffer.alloc(sent));
  let out = "";
  const answer = new Promise<string>((resolve) => {
    sock.on("data", (d) => { out += d.toString("latin1"); if (out.includes("\r\n\r\n{")) resolve(out); });
    sock.on("close", () => resolve(out));
  });
  return { sock, answer };
}

test("an upload the query already dooms is answered before its body is read", async () => {
  // a whole body is never sent: the answer must come from the head alone
  for (const [query, status, code] of [["name=slt", 409, "builtin_voice"], ["name=Alice", 409, "voice_exists"], ["name=..%2Fx", 400, "invalid_voice_name"], ["", 400, "invalid_voice_name"]] as const) {
    const { sock, answer } = rawUpload(query, MAX_UPLOAD - 1, 1000);
    const head = await Promise.race([answer, sleep(5000).then(() => "no answer within 5 s")]);
    sock.destroy();
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${query}: ${head.slice(0, 200)}`);
    assert.ok(head.includes(`"code":"${code}"`), `${query}: ${head}`);
  }
});

test("uploads beyond voices.maxConcurrentUploads (2) at once get 429 at_capacity with a retry hint; the slots come back", async () => {
  // two uploads whose bodies never finish hold both slots
  const held = [rawUpload("name=slow1", MAX_UPLOAD - 1, 64 * 1024), rawUpload("name=slow2", MAX_UPLOAD - 1, 64 * 1024)];
  await sleep(300);
  const third = await postRaw({ name: "third" }, "not audio");
  assert.equal(third.status, 429, JSON.stringify(third.json));
  assert.equal(errCode(third.json), "at_capacity");
  assert.ok(((third.json.error as { retry_after_ms: number }).retry_after_ms) > 0);
  // refusals from the head need no slot
  assert.equal((await postRaw({ name: "slt" }, speechWav)).status, 409);
  // clients that hang up free their slots
  for (const h of held) h.sock.destroy();
  let after = third;
  for (let i = 0; i < 50 && after.status === 429; i++) {
    await sleep(100);
    after = await postRaw({ name: "third" }, "not audio");
  }
  assert.equal(after.status, 400, JSON.stringify(after.json));
  assert.equal(errCode(after.json), "invalid_audio");
});

test("a body over voices.maxUploadBytes gets 413 message_too_large, with or without Content-Length", async () => {
  const big = Buffer.concat([speechWav, Buffer.alloc(MAX_UPLOAD)]);
  const r = await postRaw({ name: "big" }, big);
  assert.equal(r.status, 413);
  assert.equal(errCode(r.json), "message_too_large");
  // chunked: no Content-Length, the cap is enforced while reading
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let o = 0; o < big.length; o += 256 * 1024) c.enqueue(big.subarray(o, o + 256 * 1024));
      c.close();
    },
  });
  const res = await fetch(`${base()}/v1/voices?name=big`, { method: "POST", headers: { "content-type": "audio/wav" }, body: stream, duplex: "half" } as RequestInit);
  assert.equal(res.status, 413);
  assert.equal(errCode((await res.json()) as Json), "message_too_large");
  assert.ok(!(await listVoices()).some((v) => v.name === "big"));
});

test("DELETE removes a cloned voice (file too), refuses built-ins and unknown names", async () => {
  const tone = await postRaw({ name: "carol" }, toneWav(3.5));
  assert.equal(tone.status, 201, JSON.stringify(tone.json));
  assert.ok(existsSync(join(voicesDir, "carol.json")));
  let res = await fetch(`${base()}/v1/voices/carol`, { method: "DELETE" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { deleted: "carol" });
  assert.ok(!existsSync(join(voicesDir, "carol.json")));
  assert.ok(!(await listVoices()).some((v) => v.name === "carol"));
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "gone", voice: "carol" });
  assert.equal((await c.nextEvent("error")).code, "unknown_voice");
  c.close();

  res = await fetch(`${base()}/v1/voices/carol`, { method: "DELETE" });
  assert.equal(res.status, 404);
  assert.equal(errCode((await res.json()) as Json), "unknown_voice");
  res = await fetch(`${base()}/v1/voices/slt`, { method: "DELETE" });
  assert.equal(res.status, 403);
  assert.equal(errCode((await res.json()) as Json), "builtin_voice");
  assert.ok((await listVoices()).some((v) => v.name === "slt"));
  // the name is free again
  const again = await postRaw({ name: "carol" }, toneWav(3.5));
  assert.equal(again.status, 201);
  assert.equal((await fetch(`${base()}/v1/voices/carol`, { method: "DELETE" })).status, 200);
});

test("a new server on the same directory serves the stored voices again; the key check and the cap apply", async () => {
  const builtin = String((await listVoices()).find((v) => v.source === "builtin")!.name);
  await app.close();
  // files it must skip without failing: corrupt, and made with another model
  writeFileSync(join(voicesDir, "broken.json"), "{ not json");
  writeFileSync(join(voicesDir, "other.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(voicesDir, "alice.json"), "utf8")), model: "another-model" }));
  // the API's rules hold for files put there by hand: a built-in's name in other case, one voice over the cap
  writeFileSync(join(voicesDir, `${builtin.toUpperCase()}.json`), readFileSync(join(voicesDir, "alice.json")));
  writeFileSync(join(voicesDir, "zed.json"), readFileSync(join(voicesDir, "alice.json")));
  const KEY = "voices-test-key";
  const logs: string[] = [];
  app = await createApp({
    host: "127.0.0.1", port: 0, modelDir: FIXTURE_MODEL,
    voices: { dir: voicesDir, maxCloned: 2 },
    auth: { keys: [{ id: "k", sha256: sha256Hex(KEY), maxContexts: 4, charsPerMinute: 100_000, maxSockets: 4 }] },
  }, (m) => logs.push(m));
  const auth = { authorization: `Bearer ${KEY}` };
  const voices = await listVoices(app.port, auth);
  const alice = voices.find((v) => v.name === "alice");
  assert.ok(alice, JSON.stringify(voices));
  assert.equal(alice.source, "cloned");
  assert.ok(voices.some((v) => v.name === "bob_2"));
  assert.ok(!voices.some((v) => v.name === "broken" || v.name === "other"));
  assert.ok(logs.some((l) => l.includes("broken.json")), logs.join("\n"));
  assert.ok(logs.some((l) => l.includes("another-model")), logs.join("\n"));
  assert.ok(!voices.some((v) => v.name === builtin.toUpperCase() || v.name === "zed"), JSON.stringify(voices.map((v) => v.name)));
  assert.ok(logs.some((l) => l.includes("case aside")) && logs.some((l) => l.includes("maxCloned")), logs.join("\n"));

  // the same key check as the other HTTP routes
  let res = await fetch(`${base()}/v1/voices?name=dave`, { method: "POST", headers: { "content-type": "audio/wav" }, body: new Uint8Array(speechWav) });
  assert.equal(res.status, 401);
  res = await fetch(`${base()}/v1/voices/alice`, { method: "DELETE" });
  assert.equal(res.status, 401);
  // two cloned voices kept, the cap is 2
  const r = await postRaw({ name: "dave" }, speechWav, auth);
  assert.equal(r.status, 409);
  assert.equal(errCode(r.json), "too_many_voices");

  const sock = await fetch(`${base()}/v1/tokens`, { method: "POST", headers: auth });
  const { token } = (await sock.json()) as { token: string };
  const c = await TestClient.connect(app.port, `/v1/stream?token=${encodeURIComponent(token)}`);
  c.send({ type: "create_context", context_id: "p", voice: "alice", format: "pcm_s16le", pacing: "burst" });
  await c.nextEvent("context_created", "p");
  c.send({ type: "append_text", context_id: "p", text: "Still here after a restart." });
  c.send({ type: "end", context_id: "p" });
  const done = await c.nextEvent("context_done", "p", 60_000);
  assert.ok(done.summary.audio_samples > 0);
  c.close();
});

test("leadingWords keeps whole words holding about the given share of the phonemes", () => {
  const ph = {
    encode: (w: string) => Int32Array.from([...w].map((ch) => (ch === "ˈ" ? 0 : 1))),
    isSilent: (id: number) => id === 0,
  } as unknown as Parameters<typeof leadingWords>[2];
  assert.equal(leadingWords("aa bb cc dd", 1, ph, " "), "aa bb cc dd");
  assert.equal(leadingWords("aa bb cc dd", 0.5, ph, " "), "aa bb");
  assert.equal(leadingWords("aˈa bb cc dd", 0.5, ph, " "), "aˈa bb");
  assert.equal(leadingWords("aa bb cc dd", 0.01, ph, " "), "aa");
  assert.equal(leadingWords("single", 0.3, ph, " "), "single");
});

test("decodeWav reads 8/24/32-bit integer and float WAV, extensible headers, and downmixes channels", () => {
  /** A WAV whose frames are `frames` (one array of channel values in [-1, 1) per frame). */
  const wavOf = (format: number, bits: number, frames: number[][], extensible = false): Uint8Array => {
    const ch = frames[0].length, bytes = bits / 8, fmtSize = extensible ? 40 : 16;
    const data = frames.length * ch * bytes;
    const out = new Uint8Array(12 + 8 + fmtSize + 8 + data);
    const dv = new DataView(out.buffer);
    const ascii = (o: number, s: string) => { for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i); };
    ascii(0, "RIFF"); dv.setUint32(4, out.length - 8, true); ascii(8, "WAVE");
    ascii(12, "fmt "); dv.setUint32(16, fmtSize, true); dv.setUint16(20, extensible ? 0xfffe : format, true); dv.setUint16(22, ch, true);
    dv.setUint32(24, 22050, true); dv.setUint32(28, 22050 * ch * bytes, true); dv.setUint16(32, ch * bytes, true); dv.setUint16(34, bits, true);
    if (extensible) { dv.setUint16(36, 22, true); dv.setUint16(38, bits, true); dv.setUint16(44, format, true); }
    let o = 20 + fmtSize;
    ascii(o, "data"); dv.setUint32(o + 4, data, true); o += 8;
    for (const f of frames) for (const v of f) {
      if (format === 3) dv.setFloat32(o, v, true);
      else if (bits === 8) dv.setUint8(o, Math.round(v * 128) + 128);
      else if (bits === 24) { const x = Math.round(v * 8388608); dv.setUint8(o, x & 255); dv.setUint8(o + 1, (x >> 8) & 255); dv.setInt8(o + 2, x >> 16); }
      else dv.setInt32(o, Math.round(v * 2147483648), true);
      o += bytes;
    }
    return out;
  };
  const frames = [[0.5, -0.25], [-0.5, 0.25], [0.25, 0.25]];
  const mixed = frames.map(([a, b]) => (a + b) / 2);
  for (const [format, bits, ext] of [[1, 8, false], [1, 24, false], [1, 32, true], [3, 32, false], [3, 32, true]] as const) {
    const w = wavOf(format, bits, frames, ext);
    const first = decodeWav(w);
    assert.equal(first.sampleRate, 22050);
    assert.equal(first.channels, 2);
    assert.deepEqual([...first.pcm].map((x) => Math.round(x * 1000) / 1000), frames.map((f) => f[0]), `${format}/${bits}`);
    assert.deepEqual([...decodeWav(w, { downmix: true }).pcm].map((x) => Math.round(x * 1000) / 1000), mixed, `${format}/${bits} downmix`);
  }
  assert.throws(() => decodeWav(wavOf(3, 32, frames).fill(0, 20, 22)), /supported/); // format 0
  // float samples that are not numbers would poison the encoders: refused; past full scale: clipped
  for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => decodeWav(wavOf(3, 32, [[0.1, 0.1], [bad, 0.2]])), /not a finite number/);
  assert.deepEqual([...decodeWav(wavOf(3, 32, [[3, -0.5], [-7, 0.5]])).pcm], [1, -1]);
});

test("multipart: a part whose headers do not end before the next boundary is refused, not merged with the next part", () => {
  const body = Buffer.from('--XX\r\nContent-Disposition: form-data; name="name"\r\nbob\r\n--XX\r\n' +
    'Content-Disposition: form-data; name="file"\r\n\r\nRIFF\r\n--XX--\r\n');
  assert.throws(() => parseMultipart(body, "multipart/form-data; boundary=XX"), /part headers do not end/);
  // an empty part is fine
  const ok = parseMultipart(Buffer.from('--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--XX\r\n' +
    'Content-Disposition: form-data; name="b"\r\n\r\nhi\r\n--XX--\r\n'), "multipart/form-data; boundary=XX");
  assert.deepEqual([...ok].map(([k, v]) => [k, v.data.toString()]), [["a", ""], ["b", "hi"]]);
  // RFC 2046: spaces or tabs after a boundary on its line are allowed
  const padded = parseMultipart(Buffer.from('--XX \t\r\nContent-Disposition: form-data; name="a"\r\n\r\nhi\r\n--XX--\r\n'), "multipart/form-data; boundary=XX");
  assert.equal(padded.get("a")?.data.toString(), "hi");
});

test("speech preparation off the main thread gives the same prompt audio, and its refusals stay typed", async () => {
  const rates = { audio: { sample_rate: 16000, hop_length: 320 }, semantic: { repeat: 2 } };
  const limits = { minSpeechS: 3, maxSpeechS: 10, maxAudioS: 30, promptMaxS: 4 };
  const here = prepareSpeech(new Uint8Array(speechWav), rates, limits);
  const there = await prepareSpeechOffThread(new Uint8Array(speechWav), rates, limits);
  assert.deepEqual(there.pcm, here.pcm);
  assert.equal(there.speechSeconds, here.speechSeconds);
  assert.equal(there.keptShare, here.keptShare);
  const short = encodeWav(new Float32Array(16000), 16000);
  await assert.rejects(prepareSpeechOffThread(short, rates, limits), (e: unknown) => e instanceof ServiceError && e.code === "audio_too_short");
  await assert.rejects(prepareSpeechOffThread(new Uint8Array([1, 2, 3]), rates, limits), (e: unknown) => e instanceof ServiceError && e.code === "invalid_audio");
});

test("a cloned voice belongs to the key that made it: another key's DELETE gets 403 forbidden; voices stored without an owner stay deletable by any key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-owned-"));
  // a voice stored before owners were recorded (the no-key server above made it)
  const legacy = JSON.parse(readFileSync(join(voicesDir, "alice.json"), "utf8")) as Json;
  assert.equal(legacy.owner, undefined, "made without keys: no owner");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "legacy.json"), JSON.stringify({ ...legacy, name: "legacy" }));
  const [A, B] = ["owner-key-a", "owner-key-b"];
  const owned = await createApp({
    host: "127.0.0.1", port: 0, modelDir: FIXTURE_MODEL, voices: { dir },
    auth: { keys: [A, B].map((k, i) => ({ id: `k${i}`, sha256: sha256Hex(k), maxContexts: 4, charsPerMinute: 100_000, maxSockets: 4 })) },
  });
  try {
    const url = `http://127.0.0.1:${owned.port}/v1/voices`;
    const del = (name: string, key: string) => fetch(`${url}/${name}`, { method: "DELETE", headers: { "x-api-key": key } });
    const made = await fetch(`${url}?name=mine`, { method: "POST", headers: { "content-type": "audio/wav", "x-api-key": A }, body: new Uint8Array(speechWav) });
    assert.equal(made.status, 201, await made.clone().text());
    // the key's id is stored, never the key
    const stored = readFileSync(join(dir, "mine.json"), "utf8");
    assert.equal((JSON.parse(stored) as Json).owner, "k0");
    assert.ok(!stored.includes(A) && !stored.includes(sha256Hex(A)));

    const refused = await del("mine", B);
    assert.equal(refused.status, 403);
    assert.equal(errCode((await refused.json()) as Json), "forbidden");
    assert.ok(existsSync(join(dir, "mine.json")));
    assert.ok((await listVoices(owned.port, { "x-api-key": B })).some((v) => v.name === "mine"));

    assert.equal((await del("legacy", B)).status, 200);
    assert.equal((await del("mine", A)).status, 200);
    assert.ok(!existsSync(join(dir, "mine.json")));
  } finally {
    await owned.close();
  }
});
