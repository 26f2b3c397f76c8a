/** The paired bootstrap behind long-form (and other) WER differences. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { errorsOf, werDifference, werDifferenceInterval } from "../src/eval/bootstrap.js";

test("werDifference pools errors over words, in points", () => {
  const units = [{ errorsA: 3, errorsB: 1, words: 10 }, { errorsA: 0, errorsB: 2, words: 30 }];
  assert.equal(werDifference(units), 0); // (3 - 1 + 0 - 2) / 40
  assert.equal(werDifference([{ errorsA: 5, errorsB: 1, words: 20 }]), 20);
  assert.equal(werDifference([]), 0);
});

test("the interval is a single point when every unit differs alike, and the same for the same seed", () => {
  const same = Array.from({ length: 8 }, () => ({ errorsA: 2, errorsB: 1, words: 10 }));
  assert.deepEqual(werDifferenceInterval(same), [10, 10]);
  const mixed = Array.from({ length: 12 }, (_, i) => ({ errorsA: i % 3, errorsB: (i * 7) % 4, words: 10 + i }));
  const a = werDifferenceInterval(mixed, { seed: 5 });
  assert.deepEqual(werDifferenceInterval(mixed, { seed: 5 }), a);
  assert.ok(a[0] < a[1], `${a}`);
  const point = werDifference(mixed);
  assert.ok(a[0] <= point && point <= a[1], `${point} outside ${a}`);
});

test("more units of the same kind narrow the interval", () => {
  const unit = (i: number) => ({ errorsA: [4, 0, 2, 1][i % 4], errorsB: [0, 3, 1, 1][i % 4], words: 20 });
  const few = werDifferenceInterval(Array.from({ length: 4 }, (_, i) => unit(i)));
  const many = werDifferenceInterval(Array.from({ length: 64 }, (_, i) => unit(i)));
  assert.ok(many[1] - many[0] < few[1] - few[0], `64 units ${many} vs 4 units ${few}`);
});

test("errorsOf scores like corpusWer: normalized words, edit distance", () => {
  assert.deepEqual(errorsOf("The cat, sat!", "the cat sat"), { errors: 0, words: 3 });
  assert.deepEqual(errorsOf("The cat sat", "a cat sat down"), { errors: 2, words: 3 });
});
