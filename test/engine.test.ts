/**
 * The streaming engine through the server, on the fixture model (mechanics only): queued chunks of a
 * context that fell behind are merged without losing a word, a stream's first audio goes out before
 * its first chunk is finished, and a long context does not hold up a new one.
 */
import assert from "node:assert/strict";
import { test, before, after } from "node:test";
import type { App } from "../src/app.js";
import { loadModelSet } from "../src/models/model-set.js";
import { localBackend, Synthesizer } from "../src/synth/synthesizer.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { buildConfig } from "../src/config.js";
import { FIXTURE_MODEL, startTestServer, TestClient } from "./helpers.js";

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

const SENTENCES = Array.from({ length: 8 }, (_, i) => `Sentence number ${i + 1} is here, and it is long enough to be a chunk of its own.`);

test("chunks queued behind a busy context are merged; every word and frame is still accounted for", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "m", latency: "low", pacing: "burst" });
  await c.nextEvent("context_created", "m");
  const text = SENTENCES.join(" ");
  c.send({ type: "append_text", context_id: "m", text });
  c.send({ type: "end", context_id: "m" });
  const done = await c.nextEvent("context_done", "m", 60_000);
  const metrics = c.events.filter((e): e is Extract<ServerEvent, { type: "chunk_metrics" }> => e.type === "chunk_metrics" && e.context_id === "m");
  const words = c.events.filter((e): e is Extract<ServerEvent, { type: "words" }> => e.type === "words" && e.context_id === "m").flatMap((e) => e.words);
  assert.ok(metrics.some((m) => (m.merged_chunks ?? 1) >= 2), `no merged chunk among ${metrics.map((m) => m.merged_chunks ?? 1)}`);
  // merged chunk indexes skip exactly the chunks they absorbed
  let next = 0;
  for (const m of metrics) { assert.equal(m.chunk_index, next); next += m.merged_chunks ?? 1; }
  assert.equal(metrics.reduce((a, m) => a + m.codec_frames, 0), done.summary.codec_frames);
  assert.equal(metrics.map((m) => m.text).join(" "), text, "merged texts cover the input exactly");
  for (const w of words) assert.equal(text.slice(w.char_offset, w.char_offset + w.word.length), w.word);
  assert.equal(words.length, text.split(" ").length);
  c.close();
});

test("a chunk's words event comes before its audio, its chunk_metrics after (streamed window by window)", async () => {
  const c = await TestClient.connect(app.port);
  // arrival order of audio messages and JSON events on the socket
  const order: string[] = [];
  c.ws.on("message", (data, isBinary) => {
    order.push(isBinary ? "audio" : (JSON.parse((data as Buffer).toString("utf8")) as ServerEvent).type);
  });
  c.send({ type: "create_context", context_id: "w", latency: "low", pacing: "burst" });
  await c.nextEvent("context_created", "w");
  c.send({ type: "append_text", context_id: "w", text: "This first chunk is a whole sentence with many words in it, long enough for several windows." });
  c.send({ type: "end", context_id: "w" });
  await c.nextEvent("context_done", "w", 30_000);
  const m = c.events.find((e): e is Extract<ServerEvent, { type: "chunk_metrics" }> => e.type === "chunk_metrics" && e.context_id === "w")!;
  assert.ok(m.codec_frames > 25 * 2, "the chunk is longer than the first window");
  // the chunk's metrics come after its last audio; its first audio came well before: after the first window only
  const firstAudio = order.indexOf("audio");
  const metricsAt = order.indexOf("chunk_metrics");
  assert.ok(firstAudio >= 0 && firstAudio < metricsAt);
  assert.ok(order.indexOf("words") < firstAudio, "the chunk's words event precedes its audio");
  c.close();
});

test("a long context does not hold up a new one", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "long", latency: "balanced", pacing: "burst" });
  await c.nextEvent("context_created", "long");
  c.send({ type: "append_text", context_id: "long", text: SENTENCES.concat(SENTENCES, SENTENCES).join(" ") });
  c.send({ type: "end", context_id: "long" });
  await c.nextEvent("audio_start", "long", 30_000);
  c.send({ type: "create_context", context_id: "new", latency: "low", pacing: "burst" });
  await c.nextEvent("context_created", "new");
  c.send({ type: "append_text", context_id: "new", text: "Hello there." });
  c.send({ type: "end", context_id: "new" });
  const newDone = await c.nextEvent("context_done", "new", 30_000);
  assert.ok(newDone.summary.ttfa_ms !== null);
  const longDoneYet = c.events.some((e) => e.type === "context_done" && e.context_id === "long");
  assert.equal(longDoneYet, false, "the new context finished while the long one was still generating");
  await c.nextEvent("context_done", "long", 120_000);
  c.close();
});

test("a stream's first window is decoded and handed on before the rest of its first chunk exists", async () => {
  const models = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 }, ["t2s_duration", "t2s_tokens", "soundstorm", "codec_decoder"]);
  try {
    const synth = new Synthesizer(localBackend(models));
    const { hop_length } = synth.manifest.audio;
    const R = synth.manifest.codec.decoder_right_context_frames;
    const stream = synth.openStream(synth.voices[0], 1);
    const pieces: number[] = [];
    const r = await stream.synthesize("This first chunk is a whole sentence with many words in it, long enough for several windows.", {
      firstWindowFrames: 25, sink: { pcm: (p) => pieces.push(p.length) },
    });
    assert.ok(r && r.frames > 50);
    assert.ok(pieces.length >= 2, `one piece of audio for ${r!.frames} frames`);
    // the first piece is the first window less the frames the codec holds back for right context
    assert.equal(pieces[0], (25 - R) * hop_length);
    assert.equal(pieces.reduce((a, b) => a + b, 0), r!.pcm.length);
    // later chunks of the stream are not cut
    const pieces2: number[] = [];
    await stream.synthesize("A second sentence follows the first one here.", { firstWindowFrames: 25, sink: { pcm: (p) => pieces2.push(p.length) } });
    assert.equal(pieces2.length, 1);
  } finally {
    await models.dispose();
  }
});

test("maxDelayMs cuts waiting text while the listener is short of audio, and holds it while plenty is queued", async () => {
  const low = { ...buildConfig().chunking.low, maxDelayMs: 100, holdAheadMs: 1000 };
  const held = await startTestServer({ chunking: { low } });
  try {
    const c = await TestClient.connect(held.port);
    c.send({ type: "create_context", context_id: "h", latency: "low", pacing: "burst" });
    await c.nextEvent("context_created", "h");
    // no boundary in the text: only the delay timer can cut it (nothing generated yet, so it does)
    const first = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen ";
    c.send({ type: "append_text", context_id: "h", text: first });
    const m0 = await c.nextEvent("chunk_metrics", "h");
    assert.equal(m0.text, first.trim());
    assert.ok(m0.audio_ms > 2000, `fixture chunk is long enough for the test (${m0.audio_ms} ms)`);
    // burst pacing: all of it is queued at the listener, far more than holdAheadMs
    const second = "and then more words ";
    const appendedAt = performance.now();
    c.send({ type: "append_text", context_id: "h", text: second });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(c.events.filter((e) => e.type === "chunk_metrics" && e.chunk_index === 1).length, 0, "held while audio is queued");
    // once the queued audio falls under holdAheadMs, the waiting words are cut without a boundary
    const m1 = await c.nextEvent("chunk_metrics", "h", m0.audio_ms + 5000);
    assert.equal(m1.text, second.trim());
    assert.ok(performance.now() - appendedAt >= 400);
    c.close();
  } finally {
    await held.close();
  }
});
