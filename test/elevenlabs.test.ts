/**
 * ElevenLabs-compatible input streaming: the exact message sequences Pipecat's ElevenLabsTTSService
 * (multi-stream-input) and LiveKit's single-context client (stream-input) send, replayed, and the
 * replies checked the way those clients read them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import type { App } from "../src/app.js";
import { sha256Hex } from "../src/server/auth.js";
import { fixtureSynthesizer, sleep, startTestServer, TestClient } from "./helpers.js";
import { buildConfig } from "../src/config.js";
import { ServiceError } from "../src/errors.js";
import { createMetrics } from "../src/metrics.js";
import { Admission } from "../src/server/admission.js";
import { ElevenLabsSession, parseElevenLabsParams } from "../src/server/elevenlabs-ws.js";

const KEY = "elevenlabs-test-key";
let app: App;
let voice: string;

before(async () => {
  app = await startTestServer({ auth: { keys: [{ id: "el", sha256: sha256Hex(KEY), maxContexts: 4, charsPerMinute: 1_000_000, maxSockets: 8 }] } });
  const res = await fetch(`http://127.0.0.1:${app.port}/v1/voices`, { headers: { "x-api-key": KEY } });
  voice = ((await res.json()) as { voices: { voice_id: string }[] }).voices[0].voice_id;
});
after(async () => { await app.close(); });

interface Alignment { chars: string[]; charStartTimesMs: number[]; charDurationsMs: number[]; charsDurationsMs: number[] }
interface Reply { audio?: string; isFinal?: boolean; contextId?: string; alignment?: Alignment; normalizedAlignment?: Alignment; error?: string; message?: string }

/** A client that keeps every JSON reply and lets a test wait for one. */
class ElevenLabsClient {
  readonly replies: Reply[] = [];
  readonly closed: Promise<number>;
  private waiters: { pred: (r: Reply) => boolean; resolve: (r: Reply) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      assert.equal(isBinary, false, "ElevenLabs replies are JSON text");
      const r = JSON.parse((data as Buffer).toString("utf8")) as Reply;
      this.replies.push(r);
      const i = this.waiters.findIndex((w) => w.pred(r));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(r);
    });
    this.closed = new Promise((res) => ws.on("close", (code) => res(code)));
  }

  static async connect(path: string, headers: Record<string, string> = { "xi-api-key": KEY }): Promise<ElevenLabsClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}${path}`, { headers, maxPayload: 16 * 1024 * 1024 });
    const c = new ElevenLabsClient(ws);
    await new Promise<void>((res, rej) => { ws.once("open", () => res()); ws.once("error", rej); });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  waitFor(pred: (r: Reply) => boolean, timeoutMs = 60_000): Promise<Reply> {
    const seen = this.replies.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; replies: ${JSON.stringify(this.replies.map((r) => ({ ...r, audio: r.audio?.length })))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (r) => { clearTimeout(timer); resolve(r); } });
    });
  }
}

/** Pipecat's calculate_word_times over every alignment, its running clock advanced by each message's last start + duration. */
function pipecatWords(audio: Reply[]): { word: string; startMs: number }[] {
  const words: { word: string; startMs: number }[] = [];
  let clock = 0, partial = "", partialStart = 0;
  for (const m of audio) {
    const a = m.alignment!;
    const complete = words.length;
    a.chars.forEach((ch, i) => {
      if (ch === " ") {
        if (partial) words.push({ word: partial, startMs: partialStart });
        partial = "";
      } else {
        if (!partial) partialStart = clock + a.charStartTimesMs[i];
        partial += ch;
      }
    });
    if (words.length > complete) clock += a.charStartTimesMs.at(-1)! + a.charDurationsMs.at(-1)!;
  }
  return words;
}

/** Checks every audio reply the way the clients read it; returns the total audio in ms. */
function checkAudio(audio: Reply[], bytesPerMs: number, sampleBytes: number, contextId: string | undefined): number {
  assert.ok(audio.length > 0, "some audio");
  let totalMs = 0;
  for (const m of audio) {
    assert.equal(m.isFinal, false);
    assert.equal(m.contextId, contextId);
    const bytes = Buffer.from(m.audio!, "base64");
    assert.ok(bytes.length > 0 && bytes.length % sampleBytes === 0, `whole samples (${bytes.length} bytes)`);
    const ms = bytes.length / bytesPerMs;
    totalMs += ms;
    const a = m.alignment!;
    assert.deepEqual(m.normalizedAlignment, a);
    assert.equal(a.charStartTimesMs.length, a.chars.length);
    assert.equal(a.charDurationsMs.length, a.chars.length);
    assert.deepEqual(a.charsDurationsMs, a.charDurationsMs);
    for (const ch of a.chars) assert.equal([...ch].length, 1, "one character each");
    a.charStartTimesMs.forEach((s, i) => {
      assert.ok(a.charDurationsMs[i] >= 0);
      if (i > 0) assert.equal(s, a.charStartTimesMs[i - 1] + a.charDurationsMs[i - 1], "characters tile the message");
    });
    assert.equal(a.charStartTimesMs[0] >= 0, true);
    // the alignment spans exactly this message's audio, so summing clients stay on the audio's timeline
    assert.equal(a.charStartTimesMs.at(-1)! + a.charDurationsMs.at(-1)!, Math.round(ms));
  }
  return totalMs;
}

test("multi-stream-input: the Pipecat ElevenLabsTTSService sequence", async () => {
  // Pipecat: {url}/v1/text-to-speech/{voice}/multi-stream-input?model_id=..&output_format=pcm_<rate>&auto_mode=true, header xi-api-key
  const c = await ElevenLabsClient.connect(`/v1/text-to-speech/${voice}/multi-stream-input?model_id=eleven_turbo_v2_5&output_format=pcm_16000&auto_mode=true&enable_ssml_parsing=false`);
  const ctx = "2f0c6c1e-7f1a-4a57-9d7e-6b1f0f2d9a11";
  const sentences = ["Hello there, this is a streaming test. ", "It should speak every word!"];
  c.send({ text: "" });  // keepalive before any context is open: carries no context_id
  c.send({ text: " ", context_id: ctx, voice_settings: { stability: 0.5, similarity_boost: 0.75, speed: 1.0 } });
  for (const s of sentences) c.send({ text: s, context_id: ctx });
  c.send({ context_id: ctx, flush: true });  // flush_audio at the end of the LLM response
  c.send({ text: "", context_id: ctx });  // keepalive of the open context
  c.send({ context_id: ctx, close_context: true });  // end of turn: isFinal follows the last audio
  await c.waitFor((r) => r.isFinal === true);
  c.send({ close_socket: true });
  assert.equal(await c.closed, 1000, "the server closes cleanly once every context is final");

  assert.deepEqual(c.replies.filter((r) => r.error), [], "no errors");
  const final = c.replies.at(-1)!;
  assert.deepEqual(final, { isFinal: true, contextId: ctx }, "isFinal is the last reply");
  const audio = c.replies.slice(0, -1);
  const totalMs = checkAudio(audio, 32, 2, ctx);
  assert.ok(audio.length >= 2, "auto_mode: each sentence is synthesized as it comes (plus the codec's tail)");
  // audio streams within a chunk: the first message is the first audio alone, later ones about 200 ms each
  const msOf = (r: Reply) => Buffer.from(r.audio!, "base64").length / 32;
  assert.ok(msOf(audio[0]) < 200, `first message ${msOf(audio[0])} ms`);
  assert.ok(audio.length > 2 + totalMs / 1000, `${audio.length} messages for ${totalMs} ms`);
  // the words a Pipecat client rebuilds are the words sent, in order, inside the audio
  const words = pipecatWords(audio);
  assert.deepEqual(words.map((w) => w.word), sentences.join(" ").split(/\s+/).filter(Boolean));
  words.forEach((w, i) => {
    assert.ok(w.startMs >= 0 && w.startMs < totalMs, `${w.word} at ${w.startMs} ms of ${totalMs}`);
    if (i > 0) assert.ok(w.startMs >= words[i - 1].startMs, "in order");
  });
});

test("multi-stream-input: a flush sends all of the flushed text's audio, the codec's held-back tail included, without close_context", async () => {
  const c = await ElevenLabsClient.connect(`/v1/text-to-speech/${voice}/multi-stream-input?output_format=pcm_16000&auto_mode=true`);
  c.send({ text: "Hello there. ", context_id: "f" });
  c.send({ context_id: "f", flush: true });
  const fullMs = async () => {
    // the native route's audio for the same text, flushed and ended: every frame of it
    const tok = await fetch(`http://127.0.0.1:${app.port}/v1/tokens`, { method: "POST", headers: { "x-api-key": KEY } });
    const { token } = (await tok.json()) as { token: string };
    const n = await TestClient.connect(app.port, `/v1/stream?token=${encodeURIComponent(token)}`);
    n.send({ type: "create_context", context_id: "n", voice, format: "pcm_16000", pacing: "burst" });
    n.send({ type: "append_text", context_id: "n", text: "Hello there. " });
    n.send({ type: "flush", context_id: "n" });
    n.send({ type: "end", context_id: "n" });
    const done = await n.nextEvent("context_done", "n", 30_000);
    n.close();
    return (done.summary.audio_samples * 1000) / 16000;
  };
  const want = await fullMs();
  const t0 = Date.now();
  let got = 0;
  while (Date.now() - t0 < 20_000) {
    got = c.replies.filter((r) => r.audio).reduce((n, r) => n + Buffer.from(r.audio!, "base64").length / 32, 0);
    if (got >= want) break;
    await sleep(50);
  }
  assert.equal(got, want, "all of the flushed audio arrived while the context stays open");
  c.send({ context_id: "f", close_context: true });
  await c.waitFor((r) => r.isFinal === true);
  c.send({ close_socket: true });
  await c.closed;
});

test("multi-stream-input: contexts are independent; an interrupted context still ends with isFinal", async () => {
  const c = await ElevenLabsClient.connect(`/v1/text-to-speech/${voice}/multi-stream-input?output_format=ulaw_8000`);
  c.send({ text: " ", context_id: "a" });
  c.send({ text: "The first answer goes on and on. ", context_id: "a" });
  c.send({ text: " ", context_id: "b" });
  c.send({ text: "Second.", context_id: "b", flush: true });
  c.send({ context_id: "a", close_context: true });  // a barge-in: Pipecat drops what still comes for "a"
  c.send({ context_id: "b", close_context: true });
  await c.waitFor((r) => r.isFinal === true && r.contextId === "a");
  await c.waitFor((r) => r.isFinal === true && r.contextId === "b");
  c.send({ context_id: "a", close_context: true });  // closing a finished context is ignored
  c.send({ text: "x", context_id: "c", voice_settings: null });  // Python clients send None for unset options
  c.send({ close_socket: true });
  assert.equal(await c.closed, 1000);
  assert.deepEqual(c.replies.filter((r) => r.error), []);
  for (const id of ["a", "b", "c"]) {
    const mine = c.replies.filter((r) => r.contextId === id);
    assert.deepEqual(mine.at(-1), { isFinal: true, contextId: id });
    assert.equal(mine.filter((r) => r.isFinal).length, 1);
    checkAudio(mine.slice(0, -1), 8, 1, id);
  }
});

test("stream-input: LiveKit's single-context sequence ends with isFinal and a clean close", async () => {
  const c = await ElevenLabsClient.connect(`/v1/text-to-speech/${voice}/stream-input?model_id=eleven_turbo_v2_5&output_format=pcm_24000&optimize_streaming_latency=3`);
  c.send({ text: " ", try_trigger_generation: true, voice_settings: { stability: 0.71, similarity_boost: 0.5 }, generation_config: { chunk_length_schedule: [80, 120, 200, 260] } });
  for (const w of ["Good ", "morning, ", "how ", "are ", "you? "]) c.send({ text: w, try_trigger_generation: false });
  c.send({ text: "" });  // end of input
  assert.equal(await c.closed, 1000);
  assert.deepEqual(c.replies.filter((r) => r.error), []);
  assert.deepEqual(c.replies.at(-1), { isFinal: true });
  checkAudio(c.replies.slice(0, -1), 48, 2, undefined);
  assert.deepEqual(pipecatWords(c.replies.slice(0, -1)).map((w) => w.word), ["Good", "morning,", "how", "are", "you?"]);
});

test("refused at the upgrade: no key, unknown voice, an output format we do not produce; bad messages answer errors", async () => {
  const status = (path: string, headers: Record<string, string> = { "xi-api-key": KEY }) => new Promise<{ code: number; body: string }>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}${path}`, { headers });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => { body += d.toString(); });
      res.on("end", () => resolve({ code: res.statusCode ?? 0, body }));
    });
    ws.on("open", () => { resolve({ code: 101, body: "" }); ws.close(); });
    ws.on("error", () => {});
  });
  const ok = `/v1/text-to-speech/${voice}/multi-stream-input?output_format=pcm_16000`;
  assert.equal((await status(ok, {})).code, 401);
  assert.equal((await status(ok, { "xi-api-key": "wrong" })).code, 401);
  const unknown = await status("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?output_format=pcm_16000");
  assert.equal(unknown.code, 404);
  assert.equal(JSON.parse(unknown.body).error.code, "unknown_voice");
  for (const f of ["", "&output_format=mp3_44100_128", "&output_format=pcm_44100"]) {
    const r = await status(`/v1/text-to-speech/${voice}/stream-input?model_id=x${f}`);
    assert.equal(r.code, 400, f);
    assert.match(JSON.parse(r.body).error.message, /not supported; use one of pcm_8000, pcm_16000, pcm_24000, pcm_48000, ulaw_8000, alaw_8000/);
  }

  const c = await ElevenLabsClient.connect(ok);
  c.ws.send("{not json");
  assert.equal((await c.waitFor((r) => r.error !== undefined)).error, "invalid_json");
  c.send({ text: 5, context_id: "x" });
  assert.equal((await c.waitFor((r) => r.error === "invalid_message")).error, "invalid_message");
  c.ws.close();
  await c.closed;
});

const localSynth = fixtureSynthesizer();

test("slow_consumer is a warning ElevenLabs clients must not see as an error, and one raised while a context opens does not drop its first text", async () => {
  const synth = localSynth();
  const replies: Reply[] = [];
  /** Runs once while the next create_context is handled (Connection asks deps.draining() then). */
  let duringCreate: (() => void) | null = null;
  const session: ElevenLabsSession = new ElevenLabsSession(
    parseElevenLabsParams("multi", synth.voices[0], "output_format=pcm_16000", synth),
    {
      synth, config: buildConfig(), metrics: createMetrics(), admission: new Admission(8, 8),
      principal: { id: "t", maxContexts: 8, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: 8 },
      draining: () => { const f = duringCreate; duringCreate = null; f?.(); return false; },
    },
    { sendText: (json) => replies.push(JSON.parse(json) as Reply), close: () => {} },
  );
  // the warning as the server raises it when a socket's backlog passes slowConsumerBytes (socket-out.ts)
  const warn = () => session.reportError(new ServiceError("slow_consumer", "2000000 bytes unsent"));
  warn();
  assert.equal(replies.length, 0, "not relayed as {error}");
  // the same warning raised in the middle of opening a context (a send inside the relay)
  duringCreate = warn;
  session.onText(JSON.stringify({ text: "Hello there, my friend. ", context_id: "a" }));
  assert.equal(duringCreate, null, "the warning came during create_context");
  session.onText(JSON.stringify({ context_id: "a", close_context: true }));
  for (let i = 0; i < 600 && !replies.some((r) => r.isFinal && r.contextId === "a"); i++) await sleep(100);
  assert.ok(replies.some((r) => r.isFinal && r.contextId === "a"), JSON.stringify(replies.map((r) => ({ ...r, audio: r.audio?.length }))));
  assert.deepEqual(replies.filter((r) => r.error), []);
  const spoken = replies.filter((r) => r.alignment).flatMap((r) => r.alignment!.chars).join("").replace(/\s+/g, " ");
  assert.match(spoken, /Hello there, my friend\./, "the context's first text was synthesized");
  session.onClose();
});
