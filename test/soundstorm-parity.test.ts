/**
 * The TypeScript SoundStorm decoder equals the Python reference decoder
 * (models/training/sstrain/soundstorm/decode.py) token for token in greedy mode.
 * The golden file is produced by models/tools/soundstorm_golden.py from the
 * same weights as the ONNX model (fixture: random weights, for mechanics).
 * SOUNDSTORM_PARITY_MODEL / SOUNDSTORM_PARITY_GOLDEN run it on another model set.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadModelSet } from "../src/models/model-set.js";
import { servingManifest } from "../src/models/manifest.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { goldenRequest, modelAlone, type GoldenCase } from "./helpers.js";

interface Golden {
  mask_id: number;
  levels: number;
  cases: GoldenCase[];
}

const modelDir = resolve(process.env.SOUNDSTORM_PARITY_MODEL ?? "models/fixture");
const goldenFile = resolve(process.env.SOUNDSTORM_PARITY_GOLDEN ?? "test/golden/soundstorm-fixture.json");

test("greedy SoundStorm decoding in TypeScript matches the Python reference token for token", async () => {
  const golden = JSON.parse(readFileSync(goldenFile, "utf8")) as Golden;
  const models = await loadModelSet(modelDir, { intraOpThreads: 1 }, ["soundstorm"]);
  try {
    const m = servingManifest(models.manifest);
    assert.equal(m.soundstorm.mask_id, golden.mask_id);
    assert.equal(m.codec.levels, golden.levels);
    const gen = new AcousticGenerator(directPassRunner(models.graphs.soundstorm, m), modelAlone(m));
    assert.ok(golden.cases.length >= 1);
    for (const [i, c] of golden.cases.entries()) {
      const r = await gen.generate(goldenRequest(c));
      assert.equal(r.passes, c.passes, `case ${i}: forward passes`);
      const got = Array.from(r.acoustic);
      const diff = got.reduce((n, v, j) => n + (v !== c.expected[j] ? 1 : 0), 0);
      assert.equal(diff, 0, `case ${i}: ${diff} of ${got.length} tokens differ from the reference`);
    }
  } finally {
    await models.dispose();
  }
});
