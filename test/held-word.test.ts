/** A stream holding back a chunk's last word (SynthesisOptions.holdLastWord): what it speaks now, what it keeps, and
 * how the word is resumed or released (random-weight fixture: mechanics only). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fixtureSynthesizer } from "./helpers.js";

const fixture = fixtureSynthesizer();
const TEXT = "The weather today looks sunny";

test("holdLastWord speaks all but the last word and keeps that word's frames; releaseHeld speaks them", async () => {
  const synth = fixture();
  const whole = await synth.openStream(synth.voices[0], 7).synthesize(TEXT);
  const stream = synth.openStream(synth.voices[0], 7);
  const first = await stream.synthesize(TEXT, { holdLastWord: true });
  assert.ok(whole && first);
  assert.equal(first.heldFrom, TEXT.indexOf("sunny"));
  assert.deepEqual(first.words.map((w) => w.word), ["The", "weather", "today", "looks"]);
  assert.ok(first.frames > 0 && first.frames < whole.frames);
  assert.ok(stream.holdsWord);
  await assert.rejects(stream.synthesize("and warm."), /held back/, "the next chunk must say whether it resumes the word");

  const rest = await stream.releaseHeld();
  assert.ok(rest);
  assert.equal(stream.holdsWord, false);
  // text to semantic made the chunk once: the held word's frames are the rest of the same tokens
  assert.equal(first.frames + rest.frames, whole.frames);
  assert.equal(first.phonemes + rest.phonemes, whole.phonemes, "each symbol is counted where it is spoken");
  assert.deepEqual(rest.words.map((w) => [w.word, w.char_offset]), [["sunny", 0]]);
  assert.equal(rest.words[0].start_ms, 0, "the released word's times count from its own first frame");
  assert.equal(await stream.releaseHeld(), null, "nothing is held any more");
  assert.ok(await stream.synthesize("and warm."), "the stream goes on");
});

test("a chunk that resumes the held word drops the held frames; one word, or resuming nothing, is refused or not held", async () => {
  const synth = fixture();
  const stream = synth.openStream(synth.voices[0], 3);
  const first = await stream.synthesize(TEXT, { holdLastWord: true });
  assert.ok(first?.heldFrom !== undefined);
  const next = await stream.synthesize("sunny and warm.", { resumesHeld: true });
  assert.ok(next);
  assert.deepEqual(next.words.map((w) => w.word), ["sunny", "and", "warm"]);
  assert.equal(stream.holdsWord, false);
  assert.equal(await stream.releaseHeld(), null);
  await assert.rejects(stream.synthesize("again", { resumesHeld: true }), /no word is held/);

  const one = await synth.openStream(synth.voices[0], 3).synthesize("Sunny", { holdLastWord: true });
  assert.ok(one);
  assert.equal(one.heldFrom, undefined, "a chunk of one word is spoken whole");
  assert.deepEqual(one.words.map((w) => w.word), ["Sunny"]);
});
