/**
 * The TypeScript SoundStorm decoder equals the Python reference decoder
 * (models/training/sstrain/soundstorm/decode.py) token for token in greedy mode.
 * The golden file is produced by models/tools/soundstorm_golden.py from the
 * same weights as the ONNX model (fixture: random weights, for mechanics).
 * SOUNDSTORM_PARITY_MODEL / SOUNDSTORM_PARITY_GOLDEN run it on another model set; where the served graph was
 * quantized after export (graphs.soundstorm.reference_file), the float graph it came from is the one checked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { goldenRequest, modelAlone, referenceSoundStorm, type GoldenCase } from "./helpers.js";

interface Golden {
  mask_id: number;
  levels: number;
  cases: GoldenCase[];
}

const modelDir = resolve(process.env.SOUNDSTORM_PARITY_MODEL ?? "models/fixture");
const goldenFile = resolve(process.env.SOUNDSTORM_PARITY_GOLDEN ?? "test/golden/soundstorm-fixture.json");

test("greedy SoundStorm decoding in TypeScript matches the Python reference token for token", async () => {
  const golden = JSON.parse(readFileSync(goldenFile, "utf8")) as Golden;
  const { manifest: m, graph } = await referenceSoundStorm(modelDir);
  try {
    assert.equal(m.soundstorm.mask_id, golden.mask_id);
    assert.equal(m.codec.levels, golden.levels);
    const gen = new AcousticGenerator(directPassRunner(graph, m), modelAlone(m));
    assert.ok(golden.cases.length >= 1);
    for (const [i, c] of golden.cases.entries()) {
      const r = await gen.generate(goldenRequest(c));
      assert.equal(r.passes, c.passes, `case ${i}: forward passes`);
      const got = Array.from(r.acoustic);
      const diff = got.reduce((n, v, j) => n + (v !== c.expected[j] ? 1 : 0), 0);
      assert.equal(diff, 0, `case ${i}: ${diff} of ${got.length} tokens differ from the reference`);
    }
  } finally {
    await graph.dispose();
  }
});
