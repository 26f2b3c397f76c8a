/** WER scoring: reference text and pocketsphinx words compared on the same footing. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { corpusWer, normalizeWords } from "../src/eval/wer.js";

test("normalizeWords: quotes, typographic apostrophes, accents, digits and pocketsphinx alternates", () => {
  assert.deepEqual(normalizeWords("He said 'yes' today."), ["he", "said", "yes", "today"]);
  assert.deepEqual(normalizeWords("Don’t stop now."), ["don't", "stop", "now"]);
  assert.deepEqual(normalizeWords("The nation's café"), ["the", "nation's", "cafe"]);
  // a number in a reference is read as the server reads it; pocketsphinx writes words
  assert.deepEqual(normalizeWords("Read part 3 now, all 42."), ["read", "part", "three", "now", "all", "forty", "two"]);
  // "(2)" glued to a word is a pocketsphinx alternate; standing alone in a reference it is a word (three)
  assert.deepEqual(normalizeWords("and(2) the(3)"), ["and", "the"]);
  assert.deepEqual(normalizeWords("Read part (3) now."), ["read", "part", "three", "now"]);
  assert.equal(corpusWer([{ ref: "He said 'yes' today.", hyp: "he said yes today" }]), 0);
  assert.equal(corpusWer([{ ref: "Don’t stop now.", hyp: "don't stop now" }]), 0);
});
