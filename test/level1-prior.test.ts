/** SoundStorm's level-1 prior (manifest soundstorm.level1_prior): loaded and checked with the manifest, added to level 1 only. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet } from "../src/models/model-set.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { promptKey } from "../src/engine/prompt-cache.js";
import { fixtureWithPrior } from "./helpers.js";

/** A fixture copy (random-weight SoundStorm, for mechanics) whose manifest names a level-1 prior holding `table`. */
const withPrior = (table: Float32Array, weight: number) => fixtureWithPrior("soundstorm", "level1_prior", table, weight);

const fixture = loadManifest("models/fixture");
const U = fixture.semantic!.vocab_size, K = fixture.codec.codebook_size, Q = fixture.codec.levels;

async function decode(dir: string, semantic: Int32Array): Promise<Int32Array> {
  const models = await loadModelSet(dir, { intraOpThreads: 1 }, ["soundstorm"]);
  try {
    const m = servingManifest(models.manifest);
    const gen = new AcousticGenerator(directPassRunner(models.graphs.soundstorm, m), m);
    const vs = Int32Array.from({ length: 8 }, (_, i) => i % U), va = Int32Array.from({ length: 8 * Q }, (_, i) => (i * 7) % K);
    const r = await gen.generate({ voice: { key: promptKey(vs, va), semantic: vs, acoustic: va }, tailSemantic: new Int32Array(0),
      tailAcoustic: new Int32Array(0), semantic, seed: 3, greedy: true });
    return r.acoustic;
  } finally {
    await models.dispose();
  }
}

test("a strong level-1 prior picks each frame's most likely code for its unit; the finer levels are the model's", async () => {
  // unit u's audio carries code (5u + 1) mod K and hardly any other (-80 nats): more than the random
  // model's logits span (about 60), so the prior decides level 1
  const table = new Float32Array(U * K).fill(-80);
  for (let u = 0; u < U; u++) table[u * K + ((5 * u + 1) % K)] = 0;
  const semantic = Int32Array.from({ length: 24 }, (_, i) => (i >> 1) % U);
  const steered = await decode(withPrior(table, 1), semantic);
  for (let f = 0; f < semantic.length; f++) assert.equal(steered[f * Q], (5 * semantic[f] + 1) % K, `frame ${f} level 1`);
  const plain = await decode(withPrior(table, 0), semantic);   // weight 0: as without a prior
  const none = await decode("models/fixture", semantic);
  assert.deepEqual([...plain], [...none]);
  assert.ok(semantic.some((_, f) => plain[f * Q] !== steered[f * Q]), "the prior changed level 1");
});

test("a level-1 prior file of the wrong size, or holding values that are not log-probabilities, is refused at load", () => {
  assert.throws(() => loadManifest(withPrior(new Float32Array(U * K + 3), 1)),
    new RegExp(`soundstorm.level1_prior prior.f32 has \\d+ bytes, expected ${U * K * 4} \\(${U} units x ${K} codes, float32\\)`));
  const bad = new Float32Array(U * K);
  bad[9] = Number.POSITIVE_INFINITY;
  assert.throws(() => loadManifest(withPrior(bad, 1)), /finite log-probabilities/);
  assert.equal(loadManifest(withPrior(new Float32Array(U * K), 1)).level1Prior?.length, U * K);
  assert.equal(fixture.level1Prior, null);
});
