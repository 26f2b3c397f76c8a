import { test } from "node:test";
import assert from "node:assert/strict";
import { alignWords, spokenGroups, writtenWords } from "../src/pipeline/text/word-timing.js";

// symbols: 0 = " ", 1 = "." (silent), 2 = "ˈ" (silent), others are sounds
const isSep = (id: number) => id === 0;
const isSilent = (id: number) => id === 1 || id === 2;

test("spoken groups span their sounding symbols only (no separators, stress marks or trailing pause)", () => {
  //            h  ə  l  ˈ  oʊ _  w  ɜ  l  d  .
  const ids = Int32Array.of(5, 6, 7, 2, 8, 0, 9, 10, 7, 11, 1);
  const dur = Int32Array.of(1, 1, 2, 0, 3, 0, 2, 3, 1, 1, 5);
  const g = spokenGroups(ids, dur, isSep, isSilent);
  assert.deepEqual(g, [{ startFrame: 0, endFrame: 7, symbols: 4 }, { startFrame: 7, endFrame: 14, symbols: 4 }]);
});

test("one group per word: each word gets its group's span, shifted by the chunk's time and text offsets", () => {
  const groups = [{ startFrame: 0, endFrame: 7, symbols: 4 }, { startFrame: 7, endFrame: 14, symbols: 4 }];
  const w = alignWords("Hello, world.", groups, 40, 1000, 20);
  assert.deepEqual(w, [
    { word: "Hello", start_ms: 1000, end_ms: 1280, char_offset: 20 },
    { word: "world", start_ms: 1280, end_ms: 1560, char_offset: 27 },
  ]);
});

test("words espeak joins share their group by letters; a word read as several groups takes them all", () => {
  // "sat in the hat": espeak gives 3 groups (sat, ɪnðə, hat)
  const joined = alignWords("sat in the hat", [
    { startFrame: 0, endFrame: 6, symbols: 3 }, { startFrame: 6, endFrame: 11, symbols: 4 }, { startFrame: 11, endFrame: 17, symbols: 3 },
  ], 40, 0, 0);
  assert.deepEqual(joined.map((x) => x.word), ["sat", "in", "the", "hat"]);
  assert.equal(joined[1].start_ms, 240);
  assert.equal(joined[2].end_ms, 440);
  assert.ok(joined[1].end_ms > joined[1].start_ms && joined[1].end_ms === joined[2].start_ms);
  assert.deepEqual(joined.map((x) => x.char_offset), [0, 4, 7, 11]);
  // "1984 ended": the number is read as 4 groups (nineteen eighty four ... ) -> one word spanning them
  const split = alignWords("1984 ended", [
    { startFrame: 0, endFrame: 8, symbols: 7 }, { startFrame: 8, endFrame: 14, symbols: 5 }, { startFrame: 14, endFrame: 18, symbols: 3 },
    { startFrame: 18, endFrame: 25, symbols: 5 },
  ], 40, 0, 0);
  assert.deepEqual(split.map((x) => [x.word, x.start_ms, x.end_ms]), [["1984", 0, 720], ["ended", 720, 1000]]);
});

test("written words keep apostrophes and inner dots, drop trailing punctuation", () => {
  assert.deepEqual(writtenWords("Dr. O'Neil's U.S. plan—done!").map((w) => w.word), ["Dr", "O'Neil's", "U.S", "plan", "done"]);
  assert.deepEqual(alignWords("", [{ startFrame: 0, endFrame: 3, symbols: 2 }], 40, 0, 0), []);
});

test("timing errors count only correctly recognized words, matched in order", async () => {
  const { timingErrors } = await import("../src/eval/e2e-eval.js");
  const ours = [
    { word: "The", start_ms: 0, end_ms: 100 }, { word: "cat", start_ms: 100, end_ms: 300 },
    { word: "sat", start_ms: 300, end_ms: 500 }, { word: "down.", start_ms: 500, end_ms: 800 },
  ];
  // the recognizer missed "cat" (heard "hat") and has alternates like "down(2)"
  const asr = [{ word: "the", start: 0.02, end: 0.1 }, { word: "hat", start: 0.1, end: 0.3 },
    { word: "sat", start: 0.31, end: 0.52 }, { word: "down(2)", start: 0.5, end: 0.75 }];
  assert.deepEqual(timingErrors(ours, asr).map(Math.round), [20, 0, 10, 20, 0, 50]);
});

test("written words keep combining marks, thousands commas and ampersands inside them", () => {
  assert.deepEqual(writtenWords("We hired 1,000,000 people at AT&T, a nai\u0308ve plan.").map((w) => w.word),
    ["We", "hired", "1,000,000", "people", "at", "AT&T", "a", "nai\u0308ve", "plan"]);
});

test("timing errors pair a repeated word with the one at the same place, not the first", async () => {
  const { timingErrors } = await import("../src/eval/e2e-eval.js");
  const ours = ["The", "cat", "sat", "on", "the", "mat."].map((word, i) => ({ word, start_ms: i * 200, end_ms: i * 200 + 180 }));
  // the recognizer dropped the first "the" and heard only "the mat"
  const asr = [{ word: "the", start: 0.8, end: 0.98 }, { word: "mat", start: 1.0, end: 1.18 }];
  assert.deepEqual(timingErrors(ours, asr).map(Math.round), [0, 0, 0, 0]);
});

test("pocketsphinx word times count pauses (silence removal would shift words after a long pause)", async () => {
  const { transcribe } = await import("../src/eval/asr.js");
  const { fliteSpeak } = await import("../src/eval/flite.js");
  const { pcm, sampleRate } = fliteSpeak("Hello there, my friend.", "slt");
  const lead = 2 * sampleRate;
  const padded = new Float32Array(lead + pcm.length);
  padded.set(pcm, lead);
  const [plain, late] = transcribe([pcm, padded], sampleRate);
  assert.ok(plain.words.length > 0 && late.words.length > 0);
  assert.ok(Math.abs(late.words[0].start - plain.words[0].start - 2) < 0.1, `${late.words[0].start} vs ${plain.words[0].start} + 2`);
});
