/** OpenAI-compatible POST /v1/audio/speech: streamed WAV and Ogg Opus that ffprobe accepts; typed errors. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSynthesizer, type App } from "../src/app.js";
import { ffprobeCodec, startTestServer } from "./helpers.js";
import { parseSpeechRequest, streamSpeech } from "../src/server/openai-speech.js";
import type { Synthesizer } from "../src/synth/synthesizer.js";

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

const INPUT = "The first sentence comes back on its own. Then a second one follows it. And a third, to be sure the stream is a stream.";

async function speech(body: unknown): Promise<{ status: number; type: string; chunks: { at: number; bytes: Buffer }[]; end: number }> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${app.port}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const chunks: { at: number; bytes: Buffer }[] = [];
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push({ at: performance.now() - t0, bytes: Buffer.from(value) });
  }
  return { status: res.status, type: res.headers.get("content-type") ?? "", chunks, end: performance.now() - t0 };
}

test("wav and opus responses stream (first bytes before the end) and ffprobe accepts them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-openai-"));
  for (const [fmt, codec, type] of [["wav", "pcm_s16le", "audio/wav"], ["opus", "opus", "audio/ogg"], ["pcm", null, "audio/pcm"]] as const) {
    const r = await speech({ model: "soundstorm", input: INPUT, voice: "slt", response_format: fmt });
    assert.equal(r.status, 200);
    assert.equal(r.type, type);
    assert.ok(r.chunks.length > 1, `${fmt}: ${r.chunks.length} chunks`);
    // streamed: audio of the first sentence arrived well before the response ended
    const firstAudio = r.chunks.find((c) => c.bytes.length > 44)!.at;
    assert.ok(firstAudio < r.end - 20, `${fmt}: first audio at ${firstAudio.toFixed(0)} ms, end ${r.end.toFixed(0)} ms`);
    const file = join(dir, `speech.${fmt === "opus" ? "ogg" : fmt}`);
    writeFileSync(file, Buffer.concat(r.chunks.map((c) => c.bytes)));
    if (codec) assert.equal(ffprobeCodec(file), codec);
  }
});

test("bad requests get typed JSON errors", async () => {
  const post = async (body: string) => {
    const r = await fetch(`http://127.0.0.1:${app.port}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json" }, body });
    return { status: r.status, body: (await r.json()) as { error: { code: string } } };
  };
  assert.deepEqual([(await post("{nope")).status, (await post("{nope")).body.error.code], [400, "invalid_json"]);
  const missing = await post(JSON.stringify({ model: "m", voice: "slt" }));
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, "invalid_message");
  const voice = await post(JSON.stringify({ model: "m", input: "hi", voice: "nobody" }));
  assert.equal(voice.body.error.code, "unknown_voice");
  const fmt = await post(JSON.stringify({ model: "m", input: "hi", voice: "slt", response_format: "mp3" }));
  assert.equal(fmt.body.error.code, "invalid_message");
  // nothing to say: refused before any audio (it was a 200 with an empty Ogg file)
  for (const input of ["   ", "!!! ...", "\u200b"]) {
    const r = await post(JSON.stringify({ model: "m", input, voice: "slt", response_format: "wav" }));
    assert.deepEqual([r.status, r.body.error.code], [400, "no_speakable_text"], JSON.stringify(input));
  }
});

test("the body must be declared application/json (a page elsewhere may post text/plain without asking first): 415", async () => {
  const body = JSON.stringify({ model: "m", input: "Hello there.", voice: "slt", response_format: "pcm" });
  for (const type of [null, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
    const r = await fetch(`http://127.0.0.1:${app.port}/v1/audio/speech`, { method: "POST", headers: type ? { "content-type": type } : {}, body: new Blob([body]) });
    assert.equal(r.status, 415, String(type));
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "invalid_message");
  }
  const ok = await fetch(`http://127.0.0.1:${app.port}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
  assert.equal(ok.status, 200);
  assert.ok((await ok.arrayBuffer()).byteLength > 0);
});

test("a known route asked with another method: 405 with Allow, not 404", async () => {
  for (const [method, path, allow] of [["GET", "/v1/audio/speech", "POST"], ["DELETE", "/v1/voices", "GET, POST"], ["PUT", "/v1/voices/slt", "DELETE"], ["GET", "/v1/tokens", "POST"]] as const) {
    const r = await fetch(`http://127.0.0.1:${app.port}${path}`, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get("allow"), allow);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "invalid_message");
  }
  assert.equal((await fetch(`http://127.0.0.1:${app.port}/v1/nothing`)).status, 404);
});

test("GET /v1/voices lists the model's voices", async () => {
  const r = await fetch(`http://127.0.0.1:${app.port}/v1/voices`);
  assert.equal(r.status, 200);
  const { voices } = (await r.json()) as { voices: { voice_id: string; prompt_seconds: number }[] };
  assert.deepEqual(voices.map((v) => v.voice_id).sort(), ["awb", "kal16", "rms", "slt"]);
  assert.ok(voices.every((v) => v.prompt_seconds === 3));
});

test("a speech request's model work is scheduled by its listener's deadline, on the clock WebSocket contexts use", async () => {
  // the fixture's synthesizer, each call's options recorded
  const { synth: real, models } = await loadSynthesizer(app.config);
  after(() => models.dispose());
  const priorities: number[] = [];
  const spy = Object.create(real) as Synthesizer;
  spy.openStream = (voice: string, seed: number) => {
    const s = real.openStream(voice, seed);
    const synthesize = s.synthesize.bind(s), flush = s.flush.bind(s);
    s.synthesize = (text, o) => { priorities.push(o?.priority ?? NaN); return synthesize(text, o); };
    s.flush = (o) => { priorities.push(o?.priority ?? NaN); return flush(o); };
    return s;
  };
  const { req, format } = parseSpeechRequest(JSON.stringify({ model: "soundstorm", input: INPUT, voice: real.voices[0], response_format: "pcm" }), real);
  const t0 = performance.now();
  await streamSpeech(spy, app.config, req, format, { write() {}, writable: async () => {} }, new AbortController().signal);
  assert.ok(priorities.length >= 3, "one per chunk and one for the flush");
  for (const p of priorities) assert.ok(Number.isFinite(p) && p >= t0 - 1, `priority ${p} is a deadline on performance.now() (started ${t0})`);
  for (let i = 1; i < priorities.length; i++) assert.ok(priorities[i] >= priorities[i - 1], "deadlines move forward as audio is made");
});
