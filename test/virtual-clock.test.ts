/** The virtual clock of streamed evaluation turns, and chunk deadlines on it (random-weight fixture: mechanics only). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSynthesizer } from "../src/app.js";
import { buildConfig } from "../src/config.js";
import { createMetrics } from "../src/metrics.js";
import { listenerTimeline, runTurn } from "../src/eval/e2e-eval.js";
import { ManualClock } from "../src/session/clock.js";
import { FIXTURE_MODEL } from "./helpers.js";

test("ManualClock runs due timers in time order, settling after each, and only when advanced", async () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  clock.setTimeout(() => seen.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => {
    seen.push(`a@${clock.now()}`);
    clock.setTimeout(() => seen.push(`nested@${clock.now()}`), 5);   // due inside the same advance
  }, 10);
  const late = clock.setTimeout(() => seen.push("never"), 15);
  clock.setTimeout(() => seen.push(`tie@${clock.now()}`), 20);         // same time as b: runs after b
  clock.clearTimeout(late);
  let settles = 0;
  await clock.advance(9, async () => { settles++; });
  assert.deepEqual(seen, []);
  assert.equal(clock.now(), 9);
  await clock.advance(16, async () => { settles++; });
  assert.deepEqual(seen, ["a@10", "nested@15", "b@20", "tie@20"]);
  assert.equal(settles, 4);
  assert.equal(clock.now(), 25);
  assert.equal(clock.pending, 0);
  await assert.rejects(clock.advance(-1), RangeError);
});

test("a streamed turn on the virtual clock is cut the same way every time, deadlines counted from the waiting text", async () => {
  // holdAheadMs 0: the delay always cuts, so the cuts depend on text timing alone (not on the fixture's durations);
  // holdLastWordMs 0: chunk texts are the cuts as made (no word held back for the next chunk)
  const balanced = { ...buildConfig().chunking.balanced, maxDelayMs: 300, holdAheadMs: 0, deadlineMinChars: 0, holdLastWordMs: 0 };
  const config = buildConfig({ modelDir: FIXTURE_MODEL, inference: { intraOpThreads: 1, workers: 1 }, chunking: { balanced } });
  const { synth, models } = await loadSynthesizer(config);
  try {
    const words = "The soup is too hot, so let it cool for a minute.".split(/(?<=\s)/);
    const cuts = async () => {
      const r = await runTurn(synth, config, createMetrics(), synth.voices[0], words, 50, { latency: "balanced" }, "virtual");
      return r.events.flatMap((ev) => (ev.type === "chunk_metrics" ? [ev.text] : []));
    };
    const a = await cuts();
    const heard = (await runTurn(synth, config, createMetrics(), synth.voices[0], words, 50, { latency: "balanced" }, "virtual")).listener;
    // the first chunk is cut by the comma when "hot," arrives (200 ms) and synthesis takes no virtual time
    assert.equal(heard.firstAudioMs, 200);
    assert.ok(heard.stallMs >= 0);
    // the comma cuts the first chunk at 200 ms; the space after it is no text, so the next deadline runs from
    // "so" (250 ms) to 550 ms, when "minute." (due at 550) has not arrived yet; "for a" waits for the word it is
    // read with, and end() flushes them together
    assert.deepEqual(a, ["The soup is too hot,", "so let it cool", "for a minute."]);
    assert.deepEqual(await cuts(), a);
  } finally {
    await models.dispose();
  }
});

test("the listener's timeline: first audio, then the silences while it waits for more", () => {
  // pieces at 100 ms (300 ms long), 350 ms (100 ms: played on from 400), 700 ms (after 200 ms of silence)
  assert.deepEqual(listenerTimeline(0, [{ at: 100, ms: 300 }, { at: 350, ms: 100 }, { at: 700, ms: 50 }]), { firstAudioMs: 100, stallMs: 200 });
  assert.deepEqual(listenerTimeline(10, [{ at: 10, ms: 40 }, { at: 20, ms: 40 }]), { firstAudioMs: 0, stallMs: 0 });
  const none = listenerTimeline(0, []);
  assert.ok(Number.isNaN(none.firstAudioMs) && none.stallMs === 0);
});
