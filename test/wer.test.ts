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

test("normalizeWords reads every text the same way, digits or not, and folds the recognizer's abbreviations", () => {
  // abbreviations expand whether or not the sentence has a digit (they once did only with one)
  assert.deepEqual(normalizeWords("Mr. Smith met Dr. Jones & friends."), ["mister", "smith", "met", "doctor", "jones", "and", "friends"]);
  assert.deepEqual(normalizeWords("Mr. Smith met Dr. Jones & 2 friends."), ["mister", "smith", "met", "doctor", "jones", "and", "two", "friends"]);
  // pocketsphinx may write "mr" or "mister": both score against "Mr."
  assert.equal(corpusWer([{ ref: "Mr. Brown met 2 friends.", hyp: "mr brown met two friends" }]), 0);
  assert.equal(corpusWer([{ ref: "Mr. Brown met two friends.", hyp: "mister brown met two friends" }]), 0);
  assert.equal(corpusWer([{ ref: "certainly, etc.", hyp: "certainly et cetera" }]), 0);
  // a year as a modifier is read as flite reads it
  assert.equal(corpusWer([{ ref: "The 1990 season was good.", hyp: "the nineteen ninety season was good" }]), 0);
});
