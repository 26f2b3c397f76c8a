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
import { loadModelSet, SERVING_GRAPHS } from "../src/models/model-set.js";
import { Graph } from "../src/models/ort.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { localBackend, Synthesizer } from "../src/synth/synthesizer.js";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { createMetrics } from "../src/metrics.js";
import { runTurn } from "../src/eval/e2e-eval.js";
import { ChunkMetrics } from "../src/protocol/messages.js";
import { fixtureCopy } from "./helpers.js";

const chunkMetrics = TypeCompiler.Compile(ChunkMetrics);
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

test("a window sheds its finer levels when asked, level by level: the coarse ones decode as before, the rest stay masked", () => withGenerator(0, async (gen) => {
  const semantic = Int32Array.from({ length: 20 }, (_, i) => (3 * i) % U);
  const base = { voice, tailSemantic: NONE, tailAcoustic: NONE, semantic, seed: 2, greedy: true } as const;
  const full = await gen.generate(base);
  const asked: number[] = [];
  const shed = await gen.generate({ ...base, shedding: { level: (q) => { asked.push(q); return q >= 2; } } });
  assert.deepEqual(asked, [0, 1, 2], "asked before each level until the first yes, never after");
  const schedule = fixture.decoding.schedule;
  assert.equal(shed.passes, schedule[0] + schedule[1]);
  assert.equal(shed.shedLevels, Q - 2);
  for (let f = 0; f < semantic.length; f++) {
    for (let q = 0; q < Q; q++) {
      assert.equal(shed.acoustic[f * Q + q], q < 2 ? full.acoustic[f * Q + q] : MASK, `frame ${f} level ${q + 1}`);
    }
  }
  const never = await gen.generate({ ...base, shedding: { level: () => false } });
  assert.deepEqual([...never.acoustic], [...full.acoustic]);
  assert.equal(never.shedLevels, 0);
  // the next window, with the server caught up, follows a tail whose finer levels were shed: it fills every level
  // of its own frames (that the tail's shed cells stay masked is maskgit.test's)
  const next = await gen.generate({ ...base, tailSemantic: semantic, tailAcoustic: shed.acoustic, semantic: semantic.map((u) => (u + 1) % U) });
  assert.equal(next.passes, schedule.reduce((a, b) => a + b, 0));
  assert.equal(next.shedLevels, 0);
  assert.ok(!next.acoustic.includes(MASK), "every cell of the new frames generated");
}));

test("the synthesizer sheds levels past shedLevelsKeep while its backend's queue holds shedLevelsQueued jobs; configured and validated", () => {
  let queued = 0;
  const shedCounts: number[] = [];
  const withAbsent = loadManifest(fixtureCopy((raw) => { raw.codec.absent_code = K; }));
  const backend = { manifest: withAbsent, graph: () => ({}) as never, passRunner: async () => new Float32Array(0), queued: () => queued };
  const synth = new Synthesizer(backend, { shedLevelsQueued: 8, shedLevelsKeep: 2, onShedLevels: (n) => shedCounts.push(n) });
  const ask = synth.shedding?.level;
  assert.ok(ask);
  assert.equal(synth.shedding?.guidance, undefined, "the fixture is unguided: no guidance to shed");
  queued = 7;
  assert.equal(ask(2), false);
  queued = 8;
  assert.equal(ask(1), false, "the kept levels are never shed");
  assert.equal(ask(2), true, "read at each call: the queue's length now");
  assert.equal(ask(Q - 1), true);
  assert.deepEqual(shedCounts, [Q - 2, 1], "each yes counts the levels it leaves out");
  assert.equal(synth.sheddingSummary, "guidance off; levels past the coarsest 2 shed at 8 queued jobs");
  assert.equal(new Synthesizer(backend).shedding, undefined, "off unless the synthesizer is given a threshold");
  const withoutAbsent = { ...backend, manifest: loadManifest("models/fixture") };
  const noAbsent = new Synthesizer(withoutAbsent, { shedLevelsQueued: 8, shedGuidanceQueued: 4 });
  assert.equal(noAbsent.shedding, undefined, "a decoder without an absent code needs every level");
  assert.equal(noAbsent.sheddingSummary,
    "guidance off (the model guides no level); levels off (the codec decoder has no absent code: it needs every level)", "the boot log says why");
  assert.equal(new Synthesizer(backend, { shedLevelsQueued: 8, shedLevelsKeep: Q }).shedding, undefined, "nothing past the kept levels");
  assert.equal(new Synthesizer(backend, { shedLevelsQueued: 8, acousticLevels: 2, shedLevelsKeep: 2 }).shedding, undefined, "nothing past the generated levels");
  const { queued: _q, ...inThread } = backend;
  assert.equal(new Synthesizer(inThread, { shedLevelsQueued: 8 }).shedding, undefined, "a backend without a queue never sheds");
  assert.match(new Synthesizer(inThread, { shedLevelsQueued: 8 }).sheddingSummary, /levels off \(calls run in this thread: no queue\)/);
  assert.match(new Synthesizer(backend, { shedLevelsQueued: 8, shedLevelsKeep: Q }).sheddingSummary, new RegExp(`levels off \\(all ${Q} levels generated are kept\\)`));
  const d = buildConfig().inference;
  assert.deepEqual([d.shedLevelsQueued, d.shedLevelsKeep], [8, 4]);
  const e = buildConfig(fromEnv({ SOUNDSTORM_SHED_LEVELS_QUEUED: "0", SOUNDSTORM_SHED_LEVELS_KEEP: "2" })).inference;
  assert.deepEqual([e.shedLevelsQueued, e.shedLevelsKeep], [0, 2]);
  assert.throws(() => buildConfig({ inference: { shedLevelsQueued: -1 } } as never), /inference\.shedLevelsQueued must be an integer >= 0/);
  assert.throws(() => buildConfig({ inference: { shedLevelsKeep: 0 } } as never), /inference\.shedLevelsKeep must be an integer >= 1/);
});

test("trained model: a context whose server is far behind speaks with its finer levels shed, reports them in chunk_metrics and counts each once", async () => {
  const models = await loadModelSet("models/default", { intraOpThreads: 1 }, SERVING_GRAPHS);
  try {
    let counted = 0;
    const keep = 3;
    const synth = new Synthesizer({ ...localBackend(models), queued: () => 99 }, { shedLevelsQueued: 1, shedLevelsKeep: keep, onShedLevels: (n) => { counted += n; } });
    const levels = synth.manifest.codec.levels;
    const r = await runTurn(synth, buildConfig(), createMetrics(), synth.voices[0], ["Hello there, how are you today?"], 0, {}, "virtual");
    const cm = r.events.flatMap((ev) => (ev.type === "chunk_metrics" ? [ev] : []));
    assert.ok(cm.length >= 1);
    let shed = 0;
    for (const ev of cm) {
      assert.ok((ev.levels_shed ?? 0) >= levels - keep, JSON.stringify(ev));
      assert.equal((ev.levels_shed ?? 0) % (levels - keep), 0, "whole windows' worth of levels");
      assert.ok(chunkMetrics.Check(ev), "the event meets the published schema");
      shed += ev.levels_shed!;
    }
    assert.equal(counted, shed, "the server's counter (app.ts wires onShedLevels to soundstorm_levels_shed_total)");
    const pcm = r.pcm;
    assert.ok(pcm.length > 16000 * 0.5 && pcm.every(Number.isFinite), `${pcm.length} samples`);
  } finally {
    await models.dispose();
  }
});
