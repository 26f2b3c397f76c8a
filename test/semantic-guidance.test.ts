/** Classifier-free guidance by the units (decoding.semantic_guidance, soundstorm.null_semantic_id): the manifest's
 * checks, what the unconditional pass is given, how its logits combine, and which levels pay for it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadManifest, servingManifest, type ServingManifest } from "../src/models/manifest.js";
import { AcousticGenerator, directPassRunner, guidanceWeights, guideLogits, type PassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { loadModelSet, SERVING_GRAPHS } from "../src/models/model-set.js";
import type { GraphRunner } from "../src/models/ort.js";
import type { PassRequest } from "../src/engine/batch.js";
import { promptKey } from "../src/engine/prompt-cache.js";
import { localBackend, Synthesizer } from "../src/synth/synthesizer.js";
import { buildConfig, fromEnv } from "../src/config.js";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { createMetrics } from "../src/metrics.js";
import { runTurn } from "../src/eval/e2e-eval.js";
import { ChunkMetrics } from "../src/protocol/messages.js";
import { fixtureCopy } from "./helpers.js";

const chunkMetrics = TypeCompiler.Compile(ChunkMetrics);

const fixture = loadManifest("models/fixture");
const U = fixture.semantic!.vocab_size, K = fixture.codec.codebook_size, Q = fixture.codec.levels;

function guided(weight: number, levels: number, level_weights?: number[]): ServingManifest {
  const m = servingManifest(fixture);
  const semantic_guidance = { weight, levels, ...(level_weights ? { level_weights } : {}) };
  return { ...m, soundstorm: { ...m.soundstorm, null_semantic_id: U }, decoding: { ...m.decoding, semantic_guidance } };
}

/**
 * A stand-in model: given units, frame f's logits favour code (2 x unit) mod K by 1 and a code shared by every
 * unit (K - 1) by 1.5; given the null id, only the shared code (by 2). Alone it picks the shared code;
 * guided at weight 1 each frame's own code wins (1 + 1 x 1 = 2 against 1.5 + 1 x (1.5 - 2) = 1).
 */
function standIn(seen: PassRequest[]): PassRunner {
  return async (req) => {
    seen.push(req);
    const n = req.semantic.length - req.logitsFrom;
    const out = new Float32Array(n * K);
    for (let f = 0; f < n; f++) {
      const unit = req.semantic[req.logitsFrom + f];
      if (unit === U) { out[f * K + K - 1] = 2; continue; }
      out[f * K + ((2 * unit) % K)] = 1;
      out[f * K + K - 1] = 1.5;
    }
    return out;
  };
}

async function run(m: ServingManifest, seen: PassRequest[], tail = 0, shedGuidance?: () => boolean) {
  const vs = Int32Array.from({ length: 6 }, (_, i) => i % U), va = Int32Array.from({ length: 6 * Q }, (_, i) => i % K);
  const semantic = Int32Array.from({ length: 10 }, (_, i) => 1 + (i % (U - 1)));
  const gen = new AcousticGenerator(standIn(seen), m);
  return gen.generate({ voice: { key: promptKey(vs, va), semantic: vs, acoustic: va },
    tailSemantic: Int32Array.from({ length: tail }, () => 3), tailAcoustic: new Int32Array(tail * Q).fill(5),
    semantic, seed: 1, greedy: true, schedule: Array.from({ length: Q }, (_, q) => (q === 0 ? 3 : 1)),
    ...(shedGuidance ? { shedding: { guidance: shedGuidance } } : {}) });
}

test("guided level 1 picks each frame's own code, which the conditioned logits alone do not", async () => {
  const semantic = Int32Array.from({ length: 10 }, (_, i) => 1 + (i % (U - 1)));
  const plain = await run(servingManifest(fixture), []);
  const steered = await run(guided(1, 1), []);
  for (let f = 0; f < semantic.length; f++) {
    assert.equal(plain.acoustic[f * Q], K - 1, `frame ${f} unguided`);
    assert.equal(steered.acoustic[f * Q], (2 * semantic[f]) % K, `frame ${f} guided`);
    assert.equal(steered.acoustic[f * Q + 1], K - 1, `frame ${f} level 2 is not guided`);
  }
});

test("the unconditional pass gives the new frames the null id and keeps the tail's units; only guided levels pay twice", async () => {
  const m = guided(2, 1);
  const tail = m.soundstorm.tail_overlap_frames ?? 0;
  const seen: PassRequest[] = [];
  const r = await run(m, seen, tail + 4);
  const nulls = seen.filter((s) => s.semantic.subarray(s.logitsFrom).every((u) => u === U));
  assert.equal(nulls.length, 3, "one unconditional pass per level-1 iteration");
  for (const s of nulls) {
    assert.equal(s.level, 0);
    assert.ok(s.semantic.subarray(0, s.logitsFrom).every((u) => u === 3), "the window's tail keeps its units");
  }
  assert.equal(seen.length, 3 * 2 + (Q - 1));
  assert.equal(r.passes, seen.length);
  const two = await run(guided(2, 2), []);
  assert.equal(two.passes, 3 * 2 + 2 + (Q - 2));
  const off = await run(guided(0, 2), []);   // weight 0: no guidance, no extra passes
  assert.equal(off.passes, 3 + (Q - 1));
});

test("shedding guidance (the server behind) runs guided passes without their twin, decoded as unguided; asked pass by pass", async () => {
  const semantic = Int32Array.from({ length: 10 }, (_, i) => 1 + (i % (U - 1)));
  const m = guided(1, 2);
  const seen: PassRequest[] = [];
  const shed = await run(m, seen, 0, () => true);
  assert.equal(shed.passes, 3 + (Q - 1), "no twin passes");
  assert.equal(shed.shedPasses, 3 + 1, "three level-1 iterations and level 2 were guided passes");
  assert.ok(seen.every((s) => !s.semantic.subarray(s.logitsFrom).some((u) => u === U)), "no unconditional pass ran");
  const plain = await run(servingManifest(fixture), []);
  assert.deepEqual([...shed.acoustic], [...plain.acoustic], "the codes of an unguided decode");
  const kept = await run(m, [], 0, () => false);
  assert.equal(kept.shedPasses, 0);
  assert.equal(kept.passes, 3 * 2 + 2 + (Q - 2));
  for (let f = 0; f < semantic.length; f++) assert.equal(kept.acoustic[f * Q], (2 * semantic[f]) % K, `frame ${f} still guided`);
  // the answer may change from one pass to the next: the first level-1 iteration is shed, the rest are guided
  let asked = 0;
  const mixed = await run(m, [], 0, () => asked++ === 0);
  assert.equal(asked, 3 + 1, "asked once per guided pass, never for an unguided level");
  assert.equal(mixed.shedPasses, 1);
  assert.equal(mixed.passes, 1 + 2 * 2 + 2 + (Q - 2));
  // a manifest without guidance never asks
  let never = 0;
  const none = await run(servingManifest(fixture), [], 0, () => { never++; return true; });
  assert.equal(never, 0);
  assert.equal(none.shedPasses, 0);
});

test("the synthesizer sheds guidance while its backend's queue holds shedGuidanceQueued jobs; off by default", () => {
  let queued = 0;
  const withGuidance = loadManifest(fixtureCopy((raw) => {
    raw.soundstorm.null_semantic_id = U;
    raw.decoding.semantic_guidance = { weight: 1, levels: 2 };
  }));
  const backend = { manifest: withGuidance, graph: () => ({}) as never, passRunner: async () => new Float32Array(0), queued: () => queued };
  const synth = new Synthesizer(backend, { shedGuidanceQueued: 16 });
  const ask = synth.shedding?.guidance;
  assert.ok(ask);
  queued = 15;
  assert.equal(ask(), false);
  queued = 16;
  assert.equal(ask(), true, "read at each call: the queue's length now");
  assert.equal(synth.sheddingSummary, "guidance shed at 16 queued jobs; levels off");
  assert.equal(new Synthesizer(backend).shedding, undefined, "off unless the synthesizer is given a threshold");
  const { queued: _q, ...inThread } = backend;
  assert.equal(new Synthesizer(inThread, { shedGuidanceQueued: 16 }).shedding, undefined, "a backend without a queue never sheds");
  assert.equal(new Synthesizer({ ...backend, manifest: fixture }, { shedGuidanceQueued: 16 }).shedding, undefined, "nothing to shed without guidance");
  const weightless = loadManifest(fixtureCopy((raw) => {
    raw.soundstorm.null_semantic_id = U;
    raw.decoding.semantic_guidance = { weight: 0, levels: 2 };
  }));
  assert.equal(new Synthesizer({ ...backend, manifest: weightless }, { shedGuidanceQueued: 16 }).shedding, undefined, "no pass guided at weight 0");
  assert.equal(buildConfig().inference.shedGuidanceQueued, 4);
  assert.equal(buildConfig(fromEnv({ SOUNDSTORM_SHED_GUIDANCE_QUEUED: "0" })).inference.shedGuidanceQueued, 0);
  assert.equal(buildConfig(fromEnv({ SOUNDSTORM_SHED_GUIDANCE_QUEUED: "6" })).inference.shedGuidanceQueued, 6);
  assert.throws(() => buildConfig({ inference: { shedGuidanceQueued: 1.5 } } as never), /inference\.shedGuidanceQueued must be an integer >= 0/);
});

test("level_weights weigh each guided level in turn; a level weighted 0 runs no twin pass", async () => {
  assert.deepEqual(guidanceWeights({ weight: 0.5, levels: 4, level_weights: [1, 0] }, 6), [1, 0, 0.5, 0.5, 0, 0]);
  assert.deepEqual(guidanceWeights({ weight: 2, levels: 2 }, 3), [2, 2, 0]);
  const seen: PassRequest[] = [];
  const r = await run(guided(1, 3, [0, 1]), seen);   // level 1 alone, levels 2 and 3 guided
  assert.equal(r.passes, 3 + 2 * 2 + (Q - 3));
  const nullLevels = seen.filter((s) => s.semantic.subarray(s.logitsFrom).every((u) => u === U)).map((s) => s.level);
  assert.deepEqual(nullLevels, [1, 2]);
  const semantic = Int32Array.from({ length: 10 }, (_, i) => 1 + (i % (U - 1)));
  for (let f = 0; f < semantic.length; f++) assert.equal(r.acoustic[f * Q], K - 1, `frame ${f}: level 1 weighted 0 is not guided`);
  const first = await run(guided(0, 1, [1]), []);   // level_weights override weight
  for (let f = 0; f < semantic.length; f++) assert.equal(first.acoustic[f * Q], (2 * semantic[f]) % K, `frame ${f} guided by level_weights`);
  assert.throws(() => loadManifest(fixtureCopy((raw) => {
    raw.soundstorm.null_semantic_id = U;
    raw.decoding.semantic_guidance = { weight: 1, levels: 1, level_weights: [1, 1] };
  })), /2 weights for 1 guided levels/);
});

test("guideLogits extrapolates from the unconditioned logits and refuses a length mismatch", () => {
  const c = Float32Array.of(1, 2, 3), u = Float32Array.of(1, 0, 4);
  guideLogits(c, u, 1.5);
  assert.deepEqual([...c], [1, 5, 1.5]);
  assert.throws(() => guideLogits(c, new Float32Array(2), 1), /3 conditioned logits against 2/);
});

test("the manifest refuses guidance without a null id, and a null id that is a unit", () => {
  assert.throws(() => loadManifest(fixtureCopy((raw) => { raw.decoding.semantic_guidance = { weight: 1, levels: 1 }; })),
    /decoding.semantic_guidance needs soundstorm.null_semantic_id/);
  assert.throws(() => loadManifest(fixtureCopy((raw) => { raw.soundstorm.null_semantic_id = U - 1; })), /is a unit/);
  const ok = loadManifest(fixtureCopy((raw) => {
    raw.soundstorm.null_semantic_id = U;
    raw.decoding.semantic_guidance = { weight: 1.5, levels: 1 };
  }));
  assert.deepEqual(ok.decoding?.semantic_guidance, { weight: 1.5, levels: 1 });
});

test("the direct runner puts passes asked for together into one model call, each row's logits as alone", async () => {
  const models = await loadModelSet("models/fixture", { intraOpThreads: 1 }, ["soundstorm"]);
  try {
    const m = servingManifest(models.manifest);
    const batches: number[] = [];
    const inner = models.graphs.soundstorm;
    const counting: GraphRunner = { name: inner.name, spec: inner.spec,
      run: (feeds, o) => { batches.push(feeds.semantic.dims[0]); return inner.run(feeds, o); } };
    const run = directPassRunner(counting, m);
    const vs = Int32Array.from({ length: 5 }, (_, i) => i % U), va = Int32Array.from({ length: 5 * Q }, (_, i) => (3 * i) % K);
    const prompt = { key: promptKey(vs, va), semantic: vs, acoustic: va };
    const pass = (units: number[]) => ({ prompt, semantic: Int32Array.from(units), tokens: new Int32Array(units.length * Q).fill(m.soundstorm.mask_id),
      level: 0, logitsFrom: 0 });
    const a = pass([1, 2, 3, 4, 5, 6]), b = pass([7, 7, 1]);
    const alone = [await run(a), await run(b)];
    const prompted = batches.length;   // the voice prompt's own states take a call first
    batches.length = 0;
    const opts = {};
    const together = await Promise.all([run(a, opts), run(b, opts)]);
    assert.deepEqual(batches, [2], "one call of two rows");
    assert.ok(prompted >= 2);
    for (const [i, t] of together.entries()) {
      assert.equal(t.length, alone[i].length);
      assert.ok(t.every((x, j) => Math.abs(x - alone[i][j]) < 1e-4), `row ${i}: the same logits as alone`);
    }
  } finally {
    await models.dispose();
  }
});

test("a context whose server is behind reports the passes it shed in chunk_metrics, each counted once by onShed (random-weight fixture)", async () => {
  // every guided pass is shed, so the fixture's graph never sees the null id (its embedding has no row for it)
  const dir = fixtureCopy((raw) => {
    raw.soundstorm.null_semantic_id = U;
    raw.decoding.semantic_guidance = { weight: 1, levels: 2 };
  });
  const models = await loadModelSet(dir, { intraOpThreads: 1 }, SERVING_GRAPHS);
  try {
    let counted = 0;
    const synth = new Synthesizer({ ...localBackend(models), queued: () => 99 }, { shedGuidanceQueued: 1, onShed: () => counted++ });
    const config = buildConfig({ modelDir: dir });
    const r = await runTurn(synth, config, createMetrics(), synth.voices[0], ["Hello there, how are you?"], 0, {}, "virtual");
    const cm = r.events.flatMap((ev) => (ev.type === "chunk_metrics" ? [ev] : []));
    assert.ok(cm.length >= 1);
    const { decoding } = synth.manifest;
    const schedule = decoding.fast_schedule ?? decoding.schedule;
    const guidedPerWindow = schedule[0] + schedule[1];
    let shed = 0;
    for (const ev of cm) {
      assert.ok((ev.guidance_shed_passes ?? 0) >= guidedPerWindow, JSON.stringify(ev));
      assert.ok(chunkMetrics.Check(ev), "the event still meets the published schema");
      shed += ev.guidance_shed_passes!;
    }
    assert.equal(counted, shed, "the server's counter (app.ts wires onShed to soundstorm_guidance_shed_passes_total)");
  } finally {
    await models.dispose();
  }
});
