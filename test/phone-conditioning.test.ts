/**
 * SoundStorm conditioned on text symbols as well as units (manifest soundstorm.phone_conditioning): the
 * per-frame ids the synthesizer gives it, and the manifest's checks. Mechanics on the random-weight
 * fixture's manifest (not trained).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { conditioningIds, unitsOf } from "../src/pipeline/acoustic/conditioning.js";
import { fixtureCopy } from "./helpers.js";

const base = servingManifest(loadManifest("models/fixture"));
const U = base.semantic.vocab_size;
const P = base.text.symbols.length + 1;

function withPhones(offset = U, phones = P) {
  const dir = fixtureCopy((raw) => { raw.soundstorm.phone_conditioning = { offset, phones }; });
  return { dir, manifest: () => servingManifest(loadManifest(dir)) };
}

test("without phone_conditioning the ids are the units themselves", () => {
  const units = Int32Array.from([3, 1, 4, 1, 5]);
  assert.equal(conditioningIds(base, units, Int32Array.from([7, 8]), Int32Array.from([2, 3])), units);
  assert.equal(unitsOf(base, units), units);
});

test("each frame's id carries the symbol its phoneme was given (id + 1, scaled by the offset)", () => {
  const { dir, manifest } = withPhones();
  try {
    const m = manifest();
    const units = Int32Array.from([3, 1, 4, 1, 5, 9]);
    const phonemes = Int32Array.from([7, 2, 11]);
    const durations = Int32Array.from([2, 0, 4]);       // a silent symbol may get no frames
    const ids = conditioningIds(m, units, phonemes, durations);
    assert.deepEqual([...ids], [3 + U * 8, 1 + U * 8, 4 + U * 12, 1 + U * 12, 5 + U * 12, 9 + U * 12]);
    assert.deepEqual([...unitsOf(m, ids)], [...units]);
    assert.deepEqual([...units], [3, 1, 4, 1, 5, 9], "the units are not changed in place");
    assert.throws(() => conditioningIds(m, units, phonemes, Int32Array.from([2, 0, 3])), /cover 5 of 6/);
    assert.throws(() => conditioningIds(m, units, phonemes, Int32Array.from([2, 4])), /2 durations for 3 phonemes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the manifest refuses an offset inside the unit range and a phone count that is not the symbols' + 1", () => {
  for (const [offset, phones, msg] of [[U - 1, P, /offset must be at least/], [U, P + 1, /symbols \+ 1/]] as const) {
    const { dir, manifest } = withPhones(offset, phones);
    try {
      assert.throws(manifest, msg);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
