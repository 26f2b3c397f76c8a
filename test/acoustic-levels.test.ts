/**
 * Generating fewer RVQ levels (config inference.acousticLevels): SoundStorm fills the coarse levels only
 * and the codec decoder reads the rest as the manifest's codec.absent_code, whose codebook rows are zero.
 * Mechanics on the random-weight fixture (models/fixture, not trained); the absent code on the trained
 * decoder (models/default), which has the zero rows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig, fromEnv } from "../src/config.js";
import { promptKey } from "../src/engine/prompt-cache.js";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet } from "../src/models/model-set.js";
import { Graph } from "../src/models/ort.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { Synthesizer } from "../src/synth/synthesizer.js";
import { fixtureCopy } from "./helpers.js";

const fixture = servingManifest(loadManifest("models/fixture"));
const Q = fixture.codec.levels, K = fixture.codec.codebook_size, U = fixture.semantic.vocab_size, MASK = fixture.soundstorm.mask_id;

const vs = Int32Array.from({ length: 8 }, (_, i) => i % U), va = Int32Array.from({ length: 8 * Q }, (_, i) => (i * 5) % K);
const voice = { key: promptKey(vs, va), semantic: vs, acoustic: va };
const NONE = new Int32Array(0);

/** Runs `use` with a fixture SoundStorm generator filling `generatedLevels` levels (0: all). */
async function withGenerator<T>(generatedLevels: number, use: (gen: AcousticGenerator) => Promise<T>): Promise<T> {
  const models = await loadModelSet("models/fixture", { intraOpThreads: 1 }, ["soundstorm"]);
  try {
    return await use(new AcousticGenerator(directPassRunner(models.graphs.soundstorm, fixture), fixture, { generatedLevels }));
  } finally {
    await models.dispose();
  }
}

function generate(generatedLevels: number) {
  const semantic = Int32Array.from({ length: 20 }, (_, i) => (3 * i) % U);
  return withGenerator(generatedLevels, async (gen) => ({
    ...(await gen.generate({ voice, tailSemantic: NONE, tailAcoustic: NONE, semantic, seed: 2, greedy: true })),
    frames: semantic.length, generated: gen.generatedLevels,
  }));
}

test("SoundStorm fills only the coarse levels asked for, with the same codes and only their passes", async () => {
  const all = await generate(0);
  const two = await generate(2);
  assert.equal(all.generated, Q);
  assert.equal(two.generated, 2);
  const schedule = fixture.decoding.schedule;
  assert.equal(all.passes, schedule.reduce((a, b) => a + b, 0));
  assert.equal(two.passes, schedule[0] + schedule[1]);
  for (let f = 0; f < two.frames; f++) {
    for (let q = 0; q < Q; q++) {
      const code = two.acoustic[f * Q + q];
      // levels are decoded coarse to fine, so the generated ones do not depend on whether finer ones follow
      if (q < 2) assert.equal(code, all.acoustic[f * Q + q], `frame ${f} level ${q + 1}`);
      else assert.equal(code, MASK, `frame ${f} level ${q + 1} stays masked`);
    }
  }
  assert.equal((await generate(Q + 3)).generated, Q, "more levels than the codec has means all of them");
});

test("a stream's next window follows a tail whose finer levels were never generated", () => withGenerator(2, async (gen) => {
  const first = Int32Array.from({ length: 12 }, (_, i) => (3 * i) % U);
  const a = await gen.generate({ voice, tailSemantic: NONE, tailAcoustic: NONE, semantic: first, seed: 1, greedy: true });
  const b = await gen.generate({ voice, tailSemantic: first, tailAcoustic: a.acoustic, semantic: first.map((u) => (u + 1) % U), seed: 1, greedy: true });
  assert.equal(b.passes, fixture.decoding.schedule[0] + fixture.decoding.schedule[1]);
  for (let f = 0; f < first.length; f++) {
    for (let q = 0; q < Q; q++) assert.equal(b.acoustic[f * Q + q] === MASK, q >= 2, `frame ${f} level ${q + 1}`);
  }
}));

test("fewer levels need a decoder with an absent code; the setting is validated", () => {
  const backend = { manifest: loadManifest("models/fixture"), graph: () => ({}) as never, passRunner: async () => new Float32Array(0) };
  assert.throws(() => new Synthesizer(backend, { acousticLevels: 2 }), /has no codec\.absent_code, so its decoder needs every level/);
  assert.doesNotThrow(() => new Synthesizer(backend, { acousticLevels: Q }));
  assert.throws(() => buildConfig({ inference: { acousticLevels: -1 } } as never), /inference\.acousticLevels must be an integer >= 0/);
  assert.equal(buildConfig(fromEnv({ SOUNDSTORM_ACOUSTIC_LEVELS: "4" })).inference.acousticLevels, 4);
  assert.equal(buildConfig().inference.acousticLevels, 0);
  const bad = fixtureCopy((m) => { m.codec.absent_code = K - 1; });
  assert.throws(() => loadManifest(bad), /codec\.absent_code must not be a valid code/);
});

test("trained decoder: the absent code adds nothing (a level of absent codes decodes like that level's codebook zeroed)", async () => {
  const m = loadManifest("models/default");
  const absent = m.codec.absent_code;
  assert.equal(absent, m.codec.codebook_size);
  const dec = await Graph.load("codec_decoder", "models/default", m.graphs.codec_decoder!, { intraOpThreads: 1 });
  try {
    const L = m.codec.levels, T = 40;
    const codes = Int32Array.from({ length: L * T }, (_, i) => (i * 37 + 11) % m.codec.codebook_size);
    const run = async (c: Int32Array) => (await dec.run({ codes: { data: c, dims: [1, L, T] } })).audio.data as Float32Array;
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    const full = await run(codes);
    const coarse = codes.slice();
    coarse.fill(absent!, 4 * T);   // levels 5-8 absent: [batch, level, frame] layout
    const four = await run(coarse);
    assert.equal(four.length, full.length);
    assert.ok(four.every(Number.isFinite));
    // the coarse levels carry most of the signal: the two differ, by much less than either's level
    const diff = rms(full.map((v, i) => v - four[i]));
    assert.ok(diff > 0 && diff < rms(full), `difference ${diff} against ${rms(full)}`);
  } finally {
    await dec.dispose();
  }
});
