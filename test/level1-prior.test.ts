/** SoundStorm's level-1 prior (manifest soundstorm.level1_prior): loaded and checked with the manifest, added to level 1 only. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet } from "../src/models/model-set.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { promptKey } from "../src/engine/prompt-cache.js";
import { fixtureWithPrior } from "./helpers.js";

/** A fixture copy (random-weight SoundStorm, for mechanics) whose manifest names a level-1 prior holding `table`. */
const withPrior = (table: Float32Array, weight: number) => fixtureWithPrior("soundstorm", "level1_prior", table, weight);

const fixture = loadManifest("models/fixture");
const U = fixture.semantic!.vocab_size, K = fixture.codec.codebook_size, Q = fixture.codec.levels;

/** A fixture copy whose slt alone has a level-1 prior: `table` as uint8 cells of `step` nats (`extra` merged into the field). */
function withVoicePrior(table: Uint8Array, step: number, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-prior-"));
  cpSync("models/fixture", dir, { recursive: true });
  const raw = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  raw.soundstorm.level1_prior = { weight: 1, voices: { slt: "slt_l1.u8" }, dtype: "uint8", step, ...extra };
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  writeFileSync(join(dir, "slt_l1.u8"), table);
  return dir;
}

async function decode(dir: string, semantic: Int32Array, voiceName?: string): Promise<Int32Array> {
  const models = await loadModelSet(dir, { intraOpThreads: 1 }, ["soundstorm"]);
  try {
    const m = servingManifest(models.manifest);
    const gen = new AcousticGenerator(directPassRunner(models.graphs.soundstorm, m), m);
    const vs = Int32Array.from({ length: 8 }, (_, i) => i % U), va = Int32Array.from({ length: 8 * Q }, (_, i) => (i * 7) % K);
    const r = await gen.generate({ voice: { key: promptKey(vs, va), semantic: vs, acoustic: va }, tailSemantic: new Int32Array(0),
      tailAcoustic: new Int32Array(0), semantic, seed: 3, greedy: true, ...(voiceName !== undefined ? { voiceName } : {}) });
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

test("a per-voice level-1 prior (uint8 cells) steers its own voice only; other voices get the shared table, here none", async () => {
  // the strong prior of the first test, stored as bytes: 0 for the code unit u's audio carries, 80 x 1 nat elsewhere
  const table = new Uint8Array(U * K).fill(80);
  for (let u = 0; u < U; u++) table[u * K + ((5 * u + 1) % K)] = 0;
  const dir = withVoicePrior(table, 1);
  const m = loadManifest(dir);
  assert.equal(m.level1Prior, null);
  assert.deepEqual([...m.level1Priors.keys()], ["slt"]);
  assert.equal(m.level1Priors.get("slt")![0], -80);   // unit 0: code 1 is its own
  const semantic = Int32Array.from({ length: 24 }, (_, i) => (i >> 1) % U);
  const steered = await decode(dir, semantic, "slt");
  for (let f = 0; f < semantic.length; f++) assert.equal(steered[f * Q], (5 * semantic[f] + 1) % K, `frame ${f} level 1`);
  const none = await decode("models/fixture", semantic);
  assert.deepEqual([...await decode(dir, semantic, "awb")], [...none], "another voice: no prior");
  assert.deepEqual([...await decode(dir, semantic)], [...none], "no voice named: no prior");
});

test("per-voice level-1 priors are checked at load: known voices, uint8 size, step only with uint8, a table at all", () => {
  const ok = new Uint8Array(U * K);
  assert.throws(() => loadManifest(withVoicePrior(new Uint8Array(U * K - 1), 0.0625)),
    new RegExp(`soundstorm.level1_prior.voices.slt slt_l1.u8 has ${U * K - 1} bytes, expected ${U * K} \\(${U} units x ${K} codes, uint8\\)`));
  assert.throws(() => loadManifest(withVoicePrior(ok, 0.0625, { voices: { nobody: "slt_l1.u8" } })), /level1_prior.voices: no voice 'nobody'/);
  assert.throws(() => loadManifest(withVoicePrior(ok, 0.0625, { dtype: "float32" })), /step goes with dtype uint8/);
  assert.throws(() => loadManifest(withVoicePrior(ok, 0.0625, { voices: undefined })), /needs a file or voices/);
  assert.equal(loadManifest(withVoicePrior(ok, 0.0625)).level1Priors.get("slt")?.length, U * K);
});
