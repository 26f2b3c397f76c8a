/** The client SDK (src/sdk/) against real servers: contexts, iterators, errors, auth, reconnect; and `say --server`. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import type { App } from "../src/app.js";
import { decodeWav } from "../src/pipeline/audio/wav.js";
import { sha256Hex } from "../src/server/auth.js";
import {
  backoffDelay, connect, ConnectError, DEFAULT_RECONNECT, DisconnectedError, SoundstormClient, SoundstormError,
  type AudioFrame, type ClientEvents, type ContextEvent,
} from "../src/sdk/node.js";
import { ffmpegDecodedSamples, ffprobeCodec, sleep, startTestServer } from "./helpers.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "soundstorm-sdk-"));
let app: App;
let url: string;
before(async () => {
  app = await startTestServer({ limits: { maxTextCharsPerMessage: 50 } });
  url = `ws://127.0.0.1:${app.port}/v1/stream`;
});
after(async () => { await app.close(); });

/** Resolves with the next event of that type. */
const next = <K extends keyof ClientEvents>(c: SoundstormClient, type: K, timeoutMs = 20_000) =>
  new Promise<ClientEvents[K]>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${String(type)} within ${timeoutMs} ms`)), timeoutMs);
    c.once(type, (v) => { clearTimeout(t); resolve(v); });
  });

test("backoff: exponential, capped, jitter takes off up to its share", () => {
  const p = { ...DEFAULT_RECONNECT, initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((a) => backoffDelay(p, a, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(p, 3, () => 0.999999), 200);
  assert.equal(backoffDelay({ ...p, jitter: 1 }, 2, () => 0.5), 100);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(p, 2);
    assert.ok(d >= 100 && d <= 200, String(d));
  }
});

test("a context streams: frames and events iterate in order, done carries the summary, the Ogg decodes", async () => {
  const client = await connect({ url });
  assert.equal(client.state, "open");
  assert.ok(client.hello.voices.length > 0);
  assert.equal(client.hello.limits.max_text_chars_per_message, 50);
  const voice = client.hello.voices[1] ?? client.hello.voices[0];
  const ctx = client.createContext({ voice, format: "ogg_opus", latency: "low", pacing: "burst", seed: 7 });
  const frames: AudioFrame[] = [];
  const events: ContextEvent[] = [];
  const iterFrames = (async () => { for await (const f of ctx.frames()) frames.push(f); })();
  const iterEvents = (async () => { for await (const e of ctx.events()) events.push(e); })();
  let callbacks = 0;
  ctx.on("audio", () => { callbacks++; });
  // over the per-message limit (50): the SDK sends it as several append_text messages
  const text = "Hello there, this is the client SDK speaking. It streams text in pieces and gets audio back while it writes.";
  for (const piece of [text.slice(0, 20), text.slice(20)]) ctx.append(piece);
  assert.equal(ctx.text, text);
  const created = await ctx.created;
  assert.equal(created.voice, voice);
  assert.equal(ctx.index, created.context_index);
  ctx.end();
  assert.throws(() => ctx.append("more"), (e: unknown) => e instanceof SoundstormError && e.code === "context_closed");
  const done = await ctx.done;
  await Promise.all([iterFrames, iterEvents]);
  assert.equal(ctx.state, "done");
  assert.equal(done.cancelled, false);
  assert.equal(done.summary.frames_sent, frames.length);
  assert.equal(callbacks, frames.length);
  assert.deepEqual(frames.map((f) => f.seq), frames.map((_, i) => i));
  assert.ok(frames[0].first && frames[0].chunkStart && frames.at(-1)!.last);
  assert.ok(frames.every((f) => f.contextIndex === created.context_index && f.timestamp48k === f.seq * 960 && f.receivedAt > 0));
  const types = events.map((e) => e.type);
  assert.equal(types[0], "context_created");
  assert.equal(types.at(-1), "context_done");
  assert.ok(types.indexOf("audio_start") > 0 && types.includes("words") && types.includes("chunk_metrics"));
  assert.ok(!types.includes("error"), JSON.stringify(events.filter((e) => e.type === "error")));
  const words = events.flatMap((e) => e.type === "words" ? e.words : []);
  assert.ok(words.length >= 10);
  for (const w of words) assert.equal(text.slice(w.char_offset, w.char_offset + w.word.length), w.word);
  const ogg = join(dir, "sdk.ogg");
  writeFileSync(ogg, Buffer.concat(frames.map((f) => f.payload)));
  assert.equal(ffprobeCodec(ogg), "opus");
  const expected48k = (done.summary.audio_samples * 48000) / ctx.audioStart!.input_sample_rate;
  const got = ffmpegDecodedSamples(ogg);
  assert.ok(Math.abs(got - expected48k) <= 960, `decoded ${got} samples, expected ${expected48k}`);
  // iterators made after the end end at once
  assert.deepEqual(await ctx.frames().next(), { value: undefined, done: true });
  const { pong, rttMs } = await client.ping("hi");
  assert.equal(pong.id, "hi");
  assert.ok(rttMs >= 0);
  await client.close();
  assert.equal(client.state, "closed");
  assert.throws(() => client.createContext(), (e: unknown) => e instanceof SoundstormError && e.code === "not_connected");
});

test("errors: a refused context rejects created and done; a non-fatal error leaves it going; cancel ends it", async () => {
  const client = await connect({ url });
  const bad = client.createContext({ voice: "nobody" });
  const iter = bad.frames();
  await assert.rejects(bad.created, (e: unknown) => e instanceof SoundstormError && e.code === "unknown_voice" && e.contextId === bad.id);
  await assert.rejects(bad.done, (e: unknown) => e instanceof SoundstormError && e.code === "unknown_voice");
  await assert.rejects(iter.next(), (e: unknown) => e instanceof SoundstormError && e.code === "unknown_voice");
  assert.equal(bad.state, "failed");
  assert.throws(() => bad.append("x"), (e: unknown) => e instanceof SoundstormError && e.code === "context_closed");
  // an id the protocol does not allow fails at once (the server's error could not name it), and nothing is left open
  const open = client.openContexts;
  for (const contextId of ["x".repeat(65), "", "has space"]) {
    assert.throws(() => client.createContext({ contextId }), (e: unknown) => e instanceof SoundstormError && e.code === "invalid_message");
  }
  assert.equal(client.openContexts, open);

  // punctuation only: no_speakable_text, and the context goes on to context_done
  const quiet = client.createContext({ pacing: "burst" });
  const errs: string[] = [];
  quiet.on("error", (ev) => errs.push(ev.code));
  quiet.append("... ");
  quiet.flush();
  quiet.append("Then some words.");
  quiet.end();
  const d = await quiet.done;
  assert.deepEqual(errs, ["no_speakable_text"]);
  assert.ok(d.summary.frames_sent > 0);

  const long = client.createContext({ pacing: "realtime" });
  long.append("This sentence is long enough to be cut into several chunks, so that the audio takes a while to play out. ".repeat(3));
  long.end();
  await new Promise<void>((r) => long.once("audio", () => r()));
  long.cancel();
  const c = await long.done;
  assert.equal(c.cancelled, true);
  long.cancel(); // a no-op once finished
  await client.close();
});

test("an id reused while an answer to its old context crosses on the wire: the new context is not failed by it", async () => {
  const client = await connect({ url });
  const errors: string[] = [];
  client.on("error", (ev) => errors.push(ev.code));
  const first = client.createContext({ contextId: "turn", pacing: "burst" });
  first.append("Short turn.");
  first.end();
  await first.done;
  // an answer about the finished context (as a cancel that crossed its context_done gets) arrives as the id is reused
  first.cancel();
  (client as unknown as { send(m: object): void }).send({ type: "cancel", context_id: "turn" });
  const again = client.createContext({ contextId: "turn", pacing: "burst" });
  await again.created;
  again.append("Second turn.");
  again.end();
  const d = await again.done;
  assert.equal(d.cancelled, false);
  assert.deepEqual(errors, [], "a stale unknown_context is not reported as an error");
  await client.close();
});

test("text the server refuses is taken out of ctx.text again, so word offsets keep pointing into it", async () => {
  const limited = await startTestServer({
    limits: { maxTextCharsPerMessage: 50 },
    auth: { keys: [{ id: "k", sha256: sha256Hex("k-key"), maxContexts: 4, charsPerMinute: 50, maxSockets: 4 }] },
  });
  try {
    const client = await connect({ url: `ws://127.0.0.1:${limited.port}/v1/stream`, apiKey: "k-key" });
    const ctx = client.createContext({ pacing: "burst" });
    const refused: string[] = [];
    ctx.on("text_refused", (r) => refused.push(r.text));
    const words: { word: string; char_offset: number }[] = [];
    ctx.on("words", (ev) => words.push(...ev.words));
    ctx.append("Alpha beta. ");
    ctx.append("This piece is too long for the budget left. ");  // 44 more: over 50 a minute
    ctx.append("Gamma.");
    ctx.end();
    await ctx.done;
    assert.deepEqual(refused, ["This piece is too long for the budget left. "]);
    assert.equal(ctx.text, "Alpha beta. Gamma.");
    assert.ok(words.length >= 3);
    for (const w of words) assert.equal(ctx.text.slice(w.char_offset, w.char_offset + w.word.length), w.word);
    // past the context's limit: a typed error at once, nothing sent
    const small = await startTestServer({ limits: { maxTextCharsPerMessage: 50, maxTextCharsPerContext: 60 } });
    try {
      const c2 = await connect({ url: `ws://127.0.0.1:${small.port}/v1/stream` });
      const x = c2.createContext();
      x.append("a".repeat(40));
      assert.throws(() => x.append("b".repeat(30)), (e: unknown) => e instanceof SoundstormError && e.code === "text_too_long");
      assert.equal(x.text.length, 40);
      x.cancel();
      await c2.close();
    } finally {
      await small.close();
    }
    await client.close();
  } finally {
    await limited.close();
  }
});

test("misuse is refused with typed errors: wide text split by bytes, bad ping ids, non-string context ids, a failing token", async () => {
  const wide = await startTestServer({ limits: { maxTextCharsPerMessage: 30_000, maxTextCharsPerContext: 100_000 } });
  try {
    const client = await connect({ url: `ws://127.0.0.1:${wide.port}/v1/stream` });
    const ctx = client.createContext({ pacing: "burst" });
    ctx.append("\u4e2d\u6587".repeat(12_000));  // 24,000 UTF-16 units, 72 KB of UTF-8: over the 64 KiB message limit in one
    ctx.cancel();
    const d = await ctx.done;
    assert.equal(d.cancelled, true, "the socket was not closed with 1009");
    assert.equal(client.state, "open");
    await assert.rejects(client.ping("x".repeat(65)), (e: unknown) => e instanceof SoundstormError && e.code === "invalid_message");
    await assert.rejects(client.ping(Number.NaN), (e: unknown) => e instanceof SoundstormError && e.code === "invalid_message");
    assert.ok((await client.ping("ok")).rttMs >= 0);
    assert.throws(() => client.createContext({ contextId: 5 as unknown as string }), (e: unknown) => e instanceof SoundstormError && e.code === "invalid_message");
    await client.close();
    await assert.rejects(connect({ url: `ws://127.0.0.1:${wide.port}/v1/stream`, token: async () => { throw new Error("no token"); } }), ConnectError);
  } finally {
    await wide.close();
  }
});

test("the browser path: globalThis.WebSocket is the default, and its absence is a clear error", async () => {
  const g = globalThis as { WebSocket?: unknown };
  const saved = g.WebSocket;
  try {
    delete g.WebSocket;
    await assert.rejects(SoundstormClient.connect({ url }), (e: unknown) => e instanceof ConnectError && /options\.WebSocket/.test((e as Error).message));
    g.WebSocket = WebSocket;
    const c = await SoundstormClient.connect({ url });
    const ctx = c.createContext({ pacing: "burst", format: "pcm_16000" });
    ctx.append("Browser style.");
    ctx.end();
    let bytes = 0;
    for await (const f of ctx.frames()) bytes += f.payload.length;
    const d = await ctx.done;
    assert.equal(bytes, d.summary.audio_samples * 2);
    await c.close();
  } finally {
    if (saved === undefined) delete g.WebSocket; else g.WebSocket = saved;
  }
});

test("auth: the key goes as the key.<KEY> subprotocol or a ?token=; a wrong key is a ConnectError", async () => {
  const KEY = "sdk-test-key";
  const keyed = await startTestServer({ auth: { keys: [{ id: "sdk", sha256: sha256Hex(KEY), maxContexts: 4, charsPerMinute: 100_000, maxSockets: 4 }] } });
  try {
    const u = `ws://127.0.0.1:${keyed.port}/v1/stream`;
    await assert.rejects(connect({ url: u }), (e: unknown) => e instanceof ConnectError && /401/.test((e as Error).message));
    await assert.rejects(connect({ url: u, apiKey: "wrong" }), ConnectError);
    const byKey = await connect({ url: u, apiKey: KEY });
    assert.equal(byKey.state, "open");
    await byKey.close();
    let asked = 0;
    const byToken = await connect({
      url: u,
      token: async () => {
        asked++;
        const r = await fetch(`http://127.0.0.1:${keyed.port}/v1/tokens`, { method: "POST", headers: { "x-api-key": KEY } });
        return ((await r.json()) as { token: string }).token;
      },
    });
    assert.equal(asked, 1);
    const ctx = byToken.createContext({ pacing: "burst" });
    ctx.append("Token holder.");
    ctx.end();
    await ctx.done;
    await byToken.close();
  } finally {
    await keyed.close();
  }
});

test("reconnect: a drop fails open contexts with DisconnectedError; the client comes back with backoff, or gives up", async () => {
  const first = await startTestServer();
  const port = first.port;
  const u = `ws://127.0.0.1:${port}/v1/stream`;
  const client = await connect({ url: u, reconnect: { initialDelayMs: 50, maxDelayMs: 200, maxAttempts: 40, jitter: 0.5 } });
  const open = client.createContext();
  open.append("This context is still open when the server goes away. ");
  await open.created;
  const attempts: number[] = [];
  client.on("reconnecting", (r) => attempts.push(r.attempt));
  const disconnected = next(client, "disconnect");
  await first.close();
  const d = await disconnected;
  assert.equal(d.willReconnect, true);
  await assert.rejects(open.done, (e: unknown) => e instanceof DisconnectedError && e.code === "disconnected" && e.contextId === open.id);
  assert.equal(client.state, "reconnecting");
  assert.throws(() => client.createContext(), (e: unknown) => e instanceof SoundstormError && e.code === "not_connected");
  await sleep(300); // a few attempts fail against the closed port
  const second = await startTestServer({ port });
  try {
    await next(client, "reconnected");
    assert.ok(attempts.length >= 2 && attempts[0] === 1, String(attempts));
    assert.equal(client.state, "open");
    await client.whenOpen();
    // the failed context is not replayed; a new one works
    const again = client.createContext({ pacing: "burst" });
    again.append("Back again.");
    again.end();
    await again.done;
  } finally {
    await second.close();
  }
  // now nothing comes back: after maxAttempts the client closes for good
  const gaveUp = await startTestServer();
  const quitter = await connect({ url: `ws://127.0.0.1:${gaveUp.port}/v1/stream`, reconnect: { initialDelayMs: 20, maxAttempts: 2 } });
  const seen: number[] = [];
  quitter.on("reconnecting", (r) => seen.push(r.attempt));
  const closed = next(quitter, "close");
  await gaveUp.close();
  const c = await closed;
  assert.deepEqual(seen, [1, 2]);
  assert.ok(c.error instanceof ConnectError);
  assert.equal(quitter.state, "closed");
  await client.close();
});

test("`soundstorm say --server` synthesizes through a running server with the SDK", async () => {
  const ogg = join(dir, "remote.ogg");
  const r = await run("node", ["bin/soundstorm.js", "say", "Hello from the server.", "--out", ogg, "--server", url, "--voice", "rms"]);
  assert.match(r.stderr, /wrote .*remote\.ogg/);
  assert.equal(ffprobeCodec(ogg), "opus");
  const wav = join(dir, "remote.wav");
  await run("node", ["bin/soundstorm.js", "say", "Hello again.", "--out", wav, "--server", url]);
  const { pcm, sampleRate } = decodeWav(new Uint8Array(readFileSync(wav)));
  assert.equal(sampleRate, 16000);
  assert.ok(pcm.length > 0 && pcm.length % 320 === 0);
  await assert.rejects(run("node", ["bin/soundstorm.js", "say", "hi", "--out", ogg, "--server", url, "--voice", "nobody"]), /unknown voice 'nobody'/);
});
