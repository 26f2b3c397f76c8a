/** A context's audio at its edges: what a flush releases, where the chunk-start flag goes, when the delay
 * timer cuts after a cut and at speaking pace, and how a context that was cancelled while pacing out is counted
 * (random-weight fixture: mechanics only). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig, type ServerConfig } from "../src/config.js";
import { createMetrics, type Metrics } from "../src/metrics.js";
import { decodeAudioMessage, FLAG_CHUNK_START } from "../src/protocol/audio-header.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { ManualClock } from "../src/session/clock.js";
import { SynthesisContext, type ContextOptions } from "../src/session/context.js";
import type { Synthesizer } from "../src/synth/synthesizer.js";
import { FIXTURE_MODEL, fixtureSynthesizer, sleep } from "./helpers.js";

const fixture = fixtureSynthesizer();

interface Run {
  ctx: SynthesisContext;
  events: ServerEvent[];
  /** Audio messages as sent: samples (pcm_16000: 2 bytes each) and flags. */
  audio: { samples: number; flags: number }[];
  closed: () => boolean;
  synth: Synthesizer;
  metrics: Metrics;
}

function open(config: ServerConfig, o: Partial<ContextOptions> = {}, clock?: ManualClock): Run {
  const synth = fixture();
  const metrics = createMetrics();
  const events: ServerEvent[] = [];
  const audio: Run["audio"] = [];
  let closed = false;
  const ctx = new SynthesisContext(
    { id: "c", index: 0, voice: synth.voices[0], format: "pcm_16000", latency: "low", seed: 1, speed: 1, pacing: "burst", ...o },
    {
      synth, config, metrics,
      sink: {
        sendJson: (e) => events.push(e),
        sendBinary: (b) => {
          const { header, payload } = decodeAudioMessage(b);
          audio.push({ samples: payload.length / 2, flags: header.flags });
        },
      },
      onIdle: () => {}, onClosed: () => { closed = true; },
      ...(clock ? { clock } : {}),
    },
  );
  return { ctx, events, audio, closed: () => closed, synth, metrics };
}

const chunkFrames = (events: ServerEvent[]) => events.flatMap((e) => (e.type === "chunk_metrics" ? [e.codec_frames] : []));
const samples = (r: Run) => r.audio.reduce((a, m) => a + m.samples, 0);

test("flush sends all of the flushed text's audio, including the frames the codec holds back for right context", async () => {
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL }));
  const hop = r.synth.manifest.audio.hop_length;
  r.ctx.append("Hello there, how are you today?");
  r.ctx.flush();
  await r.ctx.settled();
  const frames = chunkFrames(r.events).reduce((a, b) => a + b, 0);
  assert.ok(frames > 0);
  assert.equal(samples(r), frames * hop, "every generated frame is audible after the flush, without waiting for more text or end");
  // the stream goes on after a flush, and ends with every sample once
  r.ctx.append("Fine, thanks.");
  r.ctx.end();
  await r.ctx.settled();
  const all = chunkFrames(r.events).reduce((a, b) => a + b, 0);
  assert.equal(samples(r), all * hop);
});

test("the chunk-start flag marks the frame where the chunk's own audio begins, not the held-back tail before it", async () => {
  const base = buildConfig();
  // chunks not merged: each phrase below is its own chunk
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL, inference: { ...base.inference, coalesce: { enabled: false, maxChars: 240 } } }));
  const hop = r.synth.manifest.audio.hop_length;
  r.ctx.append("The soup is too hot, so let it cool for a minute. Then taste it and add salt.");
  r.ctx.end();
  await r.ctx.settled();
  const frames = chunkFrames(r.events);
  assert.ok(frames.length >= 2, `several chunks (${frames.length})`);
  const starts: number[] = [];
  let at = 0;
  for (const m of r.audio) {
    if (m.flags & FLAG_CHUNK_START) starts.push(at);
    at += m.samples;
  }
  const expected = frames.map((_, i) => frames.slice(0, i).reduce((a, b) => a + b, 0) * hop);
  assert.deepEqual(starts, expected);
});

test("after a cut, the words left over wait a whole maxDelayMs before the delay cuts them", async () => {
  const clock = new ManualClock();
  const balanced = { ...buildConfig().chunking.balanced, maxDelayMs: 300, holdAheadMs: 0, firstMinChars: 20, deadlineMinChars: 0, holdLastWordMs: 0 };
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL, chunking: { balanced } }), { latency: "balanced" }, clock);
  const settle = () => r.ctx.settled();
  r.ctx.append("The weather today is");
  await clock.advance(250, settle);
  r.ctx.append(" sunny and warm, with a light");   // cuts at "warm,": " with a light" is left, waiting from 250 ms
  await settle();
  const cut = () => r.events.flatMap((e) => (e.type === "chunk_metrics" ? [e.text] : []));
  assert.deepEqual(cut(), ["The weather today is sunny and warm,"]);
  await clock.advance(250, settle);                // 500 ms: the old timer (from 0 ms) would have cut at 300
  assert.deepEqual(cut(), ["The weather today is sunny and warm,"]);
  await clock.advance(60, settle);                 // 560 ms: 300 ms after the cut
  assert.deepEqual(cut(), ["The weather today is sunny and warm,", "with a"]);
  r.ctx.cancel();
});

test("at speaking pace a deadline cut waits for deadlineMinChars of words, and no longer than deadlineMaxWaitMs", async () => {
  const clock = new ManualClock();
  // holdLastWordMs on: words cut once overdue came at about speaking pace, so no word is held back for a next
  // chunk that would not come before the listener needs it (the chunks below are whole)
  const balanced = { ...buildConfig().chunking.balanced, maxDelayMs: 300, holdAheadMs: 0, firstMinChars: 20, deadlineMinChars: 16, deadlineMaxWaitMs: 1200, holdLastWordMs: 400 };
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL, chunking: { balanced } }), { latency: "balanced" }, clock);
  const settle = () => r.ctx.settled();
  const cut = () => r.events.flatMap((e) => (e.type === "chunk_metrics" ? [e.text] : []));
  // a live captioner's 3 words a second: without the minimum, every 300 ms deadline would cut one word
  // (at fractional times, as 1000 / 3 ms gives: the wait must end on its own timer, not on a comparison of times)
  for (const w of ["Open ", "the ", "front "]) {
    r.ctx.append(w);
    await clock.advance(1000 / 3, settle);
  }
  assert.deepEqual(cut(), [], "14 characters of words at 1,000 ms: still waiting");
  r.ctx.append("door ");                           // 19 characters: the overdue words go at once
  await settle();
  assert.deepEqual(cut(), ["Open the front door"]);
  // text that stops short goes after deadlineMaxWaitMs from when it started waiting
  r.ctx.append("now. ");
  await clock.advance(1150, settle);
  assert.deepEqual(cut(), ["Open the front door"]);
  await clock.advance(100, settle);
  assert.deepEqual(cut(), ["Open the front door", "now."]);
  r.ctx.cancel();
});

/** A context on the virtual clock whose delay deadline (300 ms) cuts mid-phrase, with the held word on. */
function holding(holdLastWordMs = 400): { r: Run; clock: ManualClock; settle: () => Promise<void> } {
  const clock = new ManualClock();
  const balanced = { ...buildConfig().chunking.balanced, maxDelayMs: 300, holdAheadMs: 0, firstMinChars: 20, deadlineMinChars: 0, holdLastWordMs };
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL, chunking: { balanced } }), { latency: "balanced" }, clock);
  return { r, clock, settle: () => r.ctx.settled() };
}

/** Cut by the 300 ms deadline mid-phrase, with "sunny" as the word held back. */
const CUT_MID_PHRASE = "The weather today looks sunny ";
const texts = (events: ServerEvent[]) => events.flatMap((e) => (e.type === "chunk_metrics" ? [e.text] : []));
const indices = (events: ServerEvent[]) => events.flatMap((e) => (e.type === "chunk_metrics" ? [e.chunk_index] : []));
const spoken = (events: ServerEvent[]) => events.flatMap((e) => (e.type === "words" ? e.words.map((w) => [w.word, w.char_offset]) : []));

/** Every word of `text` once, in order, at its offset: what the words events of a whole turn must say. */
function allWords(text: string): (string | number)[][] {
  return [...text.matchAll(/[A-Za-z]+/g)].map((m) => [m[0], m.index ?? 0]);
}

test("a deadline cut's last word is held back and said again at the start of the next chunk", async () => {
  const { r, clock, settle } = holding();
  const hop = r.synth.manifest.audio.hop_length;
  const text = "The weather today looks sunny and warm.";
  r.ctx.append(CUT_MID_PHRASE);
  await clock.advance(300, settle);                // the deadline cuts mid-phrase
  assert.deepEqual(texts(r.events), ["The weather today looks"], "the chunk's audio stops before its last word");
  r.ctx.append("and warm.");
  r.ctx.end();
  await settle();
  assert.deepEqual(texts(r.events), ["The weather today looks", "sunny and warm."]);
  assert.deepEqual(indices(r.events), [0, 1]);
  assert.deepEqual(spoken(r.events), allWords(text), "each word is timed once, at its own offset");
  const frames = chunkFrames(r.events).reduce((a, b) => a + b, 0);
  assert.equal(samples(r), frames * hop, "every frame made is sent once");
});

test("a held word no chunk takes is spoken as it was made before the listener runs out", async () => {
  const { r, clock, settle } = holding();
  const hop = r.synth.manifest.audio.hop_length;
  r.ctx.append(CUT_MID_PHRASE);
  await clock.advance(300, settle);
  const first = samples(r);
  assert.ok(first > 0);
  // the text pauses: the word goes on its own when the listener has less than 400 ms left, as its own chunk
  const audioMs = (first * 1000) / r.synth.manifest.audio.sample_rate;
  assert.ok(audioMs > 500, `the first chunk's audio (${audioMs} ms) outlasts the 400 ms margin`);
  await clock.advance(Math.max(0, audioMs - 400) - 20, settle);
  assert.deepEqual(texts(r.events), ["The weather today looks"], "still held while the listener has more than 400 ms");
  await clock.advance(40, settle);
  assert.deepEqual(texts(r.events), ["The weather today looks", "sunny"]);
  assert.deepEqual(indices(r.events), [0, 1]);
  r.ctx.append("Then rain. ");
  r.ctx.end();
  await settle();
  assert.deepEqual(texts(r.events), ["The weather today looks", "sunny", "Then rain."]);
  assert.deepEqual(indices(r.events), [0, 1, 2]);
  assert.deepEqual(spoken(r.events), allWords("The weather today looks sunny Then rain. "));
  assert.equal(samples(r), chunkFrames(r.events).reduce((a, b) => a + b, 0) * hop);
});

/** A turn cut mid-phrase at the deadline, then ended or flushed at once: the held word goes as a chunk of its own,
 * and everything made is audible. */
async function stopAfterHeldCut(stop: "end" | "flush"): Promise<void> {
  const { r, clock, settle } = holding();
  r.ctx.append(CUT_MID_PHRASE);
  await clock.advance(300, settle);
  if (stop === "end") r.ctx.end();
  else r.ctx.flush();
  await settle();
  assert.deepEqual(texts(r.events), ["The weather today looks", "sunny"], stop);
  const hop = r.synth.manifest.audio.hop_length;
  assert.equal(samples(r), chunkFrames(r.events).reduce((a, b) => a + b, 0) * hop, `after ${stop}, every frame made is sent`);
  r.ctx.cancel();
}

test("a held word released by a flush keeps its place in chunk_index order before text appended right after", async () => {
  const { r, clock, settle } = holding();
  r.ctx.append(CUT_MID_PHRASE);
  await clock.advance(300, settle);
  r.ctx.flush();
  r.ctx.append("Then rain.");                      // cut by end before the release has run
  r.ctx.end();
  await settle();
  assert.deepEqual(texts(r.events), ["The weather today looks", "sunny", "Then rain."]);
  const idx = indices(r.events);
  assert.deepEqual([...idx].sort((a, b) => a - b), idx, "chunk_index increases with the audio");
  assert.equal(new Set(idx).size, idx.length);
});

test("end and flush speak a held word; holdLastWordMs 0 never holds one", async () => {
  await stopAfterHeldCut("end");
  await stopAfterHeldCut("flush");
  const off = holding(0);
  off.r.ctx.append(CUT_MID_PHRASE);
  await off.clock.advance(300, off.settle);
  assert.deepEqual(texts(off.r.events), ["The weather today looks sunny"]);
  off.r.ctx.cancel();
});

test("a context cancelled while its last audio is paced out counts as cancelled in soundstorm_contexts_total", async () => {
  const r = open(buildConfig({ modelDir: FIXTURE_MODEL, pacing: { default: "realtime", leadMs: 100, maxQueuedMs: 0 } }), { pacing: "realtime" });
  r.ctx.append("The soup is too hot, so let it cool for a minute.");
  r.ctx.end();
  await r.ctx.settled();                            // generation over; most of the audio is still to be paced out
  assert.ok(r.ctx.closed && !r.closed());
  r.ctx.cancel();
  for (let i = 0; i < 100 && !r.closed(); i++) await sleep(5);
  assert.ok(r.closed());
  const text = await r.metrics.registry.metrics();
  assert.match(text, /soundstorm_contexts_total\{outcome="cancelled"\} 1/);
  assert.doesNotMatch(text, /soundstorm_contexts_total\{outcome="completed"\} 1/);
});
