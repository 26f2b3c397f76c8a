/** Realtime pacing: cancel drops audio still being paced out, and a context's unsent audio is bounded
 * (random-weight fixture: mechanics only). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig } from "../src/config.js";
import { createMetrics } from "../src/metrics.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { Admission } from "../src/server/admission.js";
import { Connection } from "../src/session/connection.js";
import { SynthesisContext } from "../src/session/context.js";
import { FIXTURE_MODEL, fixtureSynthesizer, sleep, withSynthesize } from "./helpers.js";

const fixture = fixtureSynthesizer();

const TEXT = "The soup is too hot, so let it cool for a minute. Then taste it and add salt if it needs some. ".repeat(2);

async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test("cancel after end, while the last audio is still paced out: nothing more is sent and the id is free at once", async () => {
  const events: ServerEvent[] = [];
  let binaries = 0;
  const admission = new Admission(100, 100);
  // no backlog cap here: generation finishes long before the audio has played
  const config = buildConfig({ modelDir: FIXTURE_MODEL, pacing: { default: "realtime", leadMs: 300, maxQueuedMs: 0 } });
  const synth = fixture();
  const conn = new Connection({ synth, config, metrics: createMetrics(), admission, draining: () => false,
    principal: { id: "t", maxContexts: 100, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: 100 } },
  { sendJson: (e) => events.push(e), sendBinary: () => { binaries++; } });
  const send = (m: unknown) => conn.onText(JSON.stringify(m));
  send({ type: "create_context", context_id: "c", format: "pcm_16000" });
  send({ type: "append_text", context_id: "c", text: TEXT });
  send({ type: "end", context_id: "c" });
  await until(() => binaries > 0, "first audio");
  await until(() => admission.activeContexts === 0, "generation to end");   // capacity is released when generation ends
  const done = events.filter((e) => e.type === "context_done");
  assert.equal(done.length, 0, "still delivering: context_done has not gone out yet");
  const sentBefore = binaries;

  send({ type: "cancel", context_id: "c" });
  const cancelled = events.filter((e) => e.type === "context_done");
  assert.equal(cancelled.length, 1);
  assert.equal(cancelled[0].type === "context_done" && cancelled[0].cancelled, true);
  await sleep(400);
  assert.equal(binaries, sentBefore, "no audio after the cancel");
  assert.equal(events.filter((e) => e.type === "context_done").length, 1, "no second context_done");
  // the id can be reused at once
  send({ type: "create_context", context_id: "c" });
  assert.ok(events.some((e) => e.type === "context_created" && e.context_id === "c" && events.indexOf(e) > events.indexOf(cancelled[0])));
  assert.equal(events.filter((e) => e.type === "error").length, 0, JSON.stringify(events.filter((e) => e.type === "error")));
  conn.onClose();
});

/** Runs TEXT through one realtime context (at 4x speed, chunks not merged) and returns the largest unsent backlog
 * seen (ms of audio) and the longest audio one chunk produced. `stopWhenIdle`: cancel once generation is over. */
async function backlog(maxQueuedMs: number, stopWhenIdle = false): Promise<{ peakMs: number; chunkMs: number; chunks: number; sent: number; framesSent: number }> {
  const base = buildConfig();
  const config = buildConfig({ modelDir: FIXTURE_MODEL, pacing: { default: "realtime", leadMs: 300, maxQueuedMs },
    inference: { ...base.inference, coalesce: { enabled: false, maxChars: 240 } } });
  const events: ServerEvent[] = [];
  let sent = 0;
  let peakMs = 0;
  let idle = false;
  let closed = false;
  const synth = fixture();
  let ctx: SynthesisContext | null = null;
  const chunkAudio: number[] = [];
  const { hop_length, sample_rate } = synth.manifest.audio;
  // the synthesizer as is, but each chunk's audio length is noted (the context's own chunk_metrics are paced)
  const noting = withSynthesize(synth, (synthesize) => async (text, o) => {
    const res = await synthesize(text, o);
    if (res) chunkAudio.push((res.frames * hop_length * 1000) / sample_rate);
    return res;
  });
  // the context's pacer is private: read its backlog through the one getter it has, for this test of mechanics
  const queued = () => (ctx as unknown as { pacer: { queuedMs: number } }).pacer.queuedMs;
  ctx = new SynthesisContext(
    { id: "b", index: 0, voice: synth.voices[0], format: "pcm_16000", latency: "low", seed: 1, speed: 4, pacing: "realtime" },
    {
      synth: noting, config, metrics: createMetrics(),
      sink: { sendJson: (e) => events.push(e), sendBinary: () => { sent++; peakMs = Math.max(peakMs, queued()); } },
      onIdle: () => { idle = true; peakMs = Math.max(peakMs, queued()); },
      onClosed: () => { closed = true; },
    },
  );
  ctx.append(TEXT);
  ctx.end();
  await until(() => idle, "generation to end", 120_000);
  // chunk_metrics are paced with the audio: read each chunk's audio from what the stream generated instead
  const chunkMs = Math.max(...chunkAudio);
  if (stopWhenIdle) ctx.cancel();
  await until(() => closed, "the context to close", 120_000);
  const done = events.filter((e) => e.type === "context_done").at(-1);
  assert.ok(done && done.type === "context_done" && done.cancelled === stopWhenIdle);
  return { peakMs, chunkMs, chunks: chunkAudio.length, sent, framesSent: done.summary.frames_sent };
}

test("realtime pacing holds at most pacing.maxQueuedMs (plus one chunk) of unsent audio, and still sends all of it", async () => {
  const capped = await backlog(400);
  assert.ok(capped.chunks >= 4, `enough chunks to build a backlog (${JSON.stringify(capped)})`);
  assert.equal(capped.sent, capped.framesSent, "every frame was sent");
  // a chunk may start just under the cap; its own audio (and one 20 ms frame of rounding) can go over it
  assert.ok(capped.peakMs <= 400 + capped.chunkMs + 20, `peak ${capped.peakMs} ms with a 400 ms cap, chunks up to ${capped.chunkMs} ms`);

  // the same text without a cap: nearly all of it is generated ahead (so the check above has teeth)
  const free = await backlog(0, true);
  assert.ok(free.peakMs > 400 + free.chunkMs + 20, `uncapped peak ${free.peakMs} ms, chunks up to ${free.chunkMs} ms`);
});
