/**
 * Voice prompt states: packed per row with the right padding, computed once per voice, and a window
 * decoded after cached states gets the logits of the same prompt computed fresh. Fixture weights
 * (random, for mechanics).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { PassRequest } from "../src/engine/batch.js";
import { chainPrompt, kvShape, packPromptStates, PromptCache, promptKey, type PromptStates } from "../src/engine/prompt-cache.js";
import type { GraphRunner } from "../src/models/ort.js";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet, type ModelSet } from "../src/models/model-set.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { Rng } from "../src/util/rng.js";
import { FIXTURE_MODEL } from "./helpers.js";

const manifest = servingManifest(loadManifest(FIXTURE_MODEL));
const Q = manifest.codec.levels;
const K = manifest.codec.codebook_size;
let models: ModelSet;

before(async () => { models = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 }, ["soundstorm"]); });
after(async () => { await models.dispose(); });

function tokens(rng: Rng, frames: number) {
  const semantic = Int32Array.from({ length: frames }, () => Math.floor(rng.next() * manifest.semantic.vocab_size));
  const acoustic = Int32Array.from({ length: frames * Q }, () => Math.floor(rng.next() * K));
  return { key: promptKey(semantic, acoustic), semantic, acoustic };
}

test("packPromptStates lays rows out as [layers, batch, heads, frames, dim], right-padded with zeros", () => {
  const shape = { layers: 2, heads: 2, headDim: 3 };
  const states = (frames: number, base: number): PromptStates => {
    const n = shape.layers * shape.heads * frames * shape.headDim;
    return { frames, k: Float32Array.from({ length: n }, (_, i) => base + i), v: Float32Array.from({ length: n }, (_, i) => -(base + i)) };
  };
  const f = packPromptStates([states(2, 100), states(0, 0), states(1, 500)], shape);
  assert.deepEqual(f.prompt_k.dims, [2, 3, 2, 2, 3]);
  assert.deepEqual(Array.from(f.prompt_lengths.data as Int32Array), [2, 0, 1]);
  const k = f.prompt_k.data as Float32Array;
  const at = (l: number, b: number, h: number, p: number, d: number) => k[(((l * 3 + b) * 2 + h) * 2 + p) * 3 + d];
  // row 0, layer 1, head 1, frame 1, dim 2 = source index ((1*2+1)*2+1)*3+2 = 23
  assert.equal(at(1, 0, 1, 1, 2), 123);
  assert.equal(at(0, 1, 0, 0, 0), 0, "a row without a prompt is all padding");
  assert.equal(at(1, 2, 1, 0, 1), 500 + (1 * 2 + 1) * 3 + 1);
  assert.equal(at(1, 2, 1, 1, 1), 0, "padding after a shorter prompt");
  assert.equal((f.prompt_v.data as Float32Array)[0], -100);
  // no prompt anywhere: one padded frame, so every dimension stays positive
  assert.deepEqual(packPromptStates([states(0, 0)], shape).prompt_k.dims, [2, 1, 2, 1, 3]);
});

test("a voice's states are computed once and equal prompts share them; the cache evicts the least recently used", async () => {
  const graph = models.graphs.soundstorm;
  let runs = 0;
  const counting: GraphRunner = { name: graph.name, spec: graph.spec, run: (f, o) => { runs++; return graph.run(f, o); } };
  const cache = new PromptCache(counting, Q, 2);
  const rng = new Rng(5);
  const a = tokens(rng, 9), b = tokens(rng, 4), c = tokens(rng, 7);
  const sa = await cache.get(a);
  assert.equal(sa.frames, 9);
  assert.equal(sa.k.length, 9 * 32, "one layer, one head, 9 frames, width 32 (the fixture)");
  await cache.get({ ...a, semantic: a.semantic.slice(), acoustic: a.acoustic.slice() });
  assert.equal(runs, 1, "same content, same key: no second run");
  await cache.get(b);
  await cache.get(a);      // a is now the most recent
  await cache.get(c);      // evicts b
  assert.equal(cache.size, 2);
  runs = 0;
  await cache.get(a);
  assert.equal(runs, 0);
  await cache.get(b);
  assert.equal(runs, 1, "b was evicted and is computed again");
  assert.notEqual(promptKey(a.semantic, a.acoustic), promptKey(b.semantic, b.acoustic));
});

test("passes after a voice prompt depend on the prompt, and repeated passes reuse its states exactly", async () => {
  const rng = new Rng(9);
  const run = directPassRunner(models.graphs.soundstorm, manifest);
  const semantic = Int32Array.from({ length: 12 }, () => Math.floor(rng.next() * manifest.semantic.vocab_size));
  const grid = new Int32Array(12 * Q).fill(manifest.soundstorm.mask_id);
  const p1 = tokens(rng, 10), p2 = tokens(rng, 10);
  const first = await run({ prompt: p1, semantic, tokens: grid, level: 0, logitsFrom: 0 });
  const again = await run({ prompt: p1, semantic, tokens: grid, level: 0, logitsFrom: 0 });
  const other = await run({ prompt: p2, semantic, tokens: grid, level: 0, logitsFrom: 0 });
  assert.deepEqual(Array.from(again), Array.from(first));
  assert.ok(first.some((v, i) => Math.abs(v - other[i]) > 1e-3), "a different voice prompt changes the logits");
});

test("packPromptStates joins a chained prompt after its parent", () => {
  const shape = { layers: 1, heads: 2, headDim: 2 };
  const part = (frames: number, base: number, parent?: PromptStates): PromptStates => {
    const n = shape.layers * shape.heads * frames * shape.headDim;
    const k = Float32Array.from({ length: n }, (_, i) => base + i);
    return { frames, k, v: k.map((x) => -x), ...(parent ? { parent } : {}) };
  };
  const chained = part(1, 500, part(2, 100));
  const f = packPromptStates([chained, part(1, 900)], shape);
  assert.deepEqual(f.prompt_k.dims, [1, 2, 2, 3, 2]);
  assert.deepEqual(Array.from(f.prompt_lengths.data as Int32Array), [3, 1]);
  const k = f.prompt_k.data as Float32Array;
  const at = (b: number, h: number, p: number, d: number) => k[((b * 2 + h) * 3 + p) * 2 + d];
  // row 0, head 1: parent frames 0-1 (source (1*2+p)*2+d), then the child's frame (source (1*1+0)*2+d)
  assert.deepEqual([at(0, 1, 0, 0), at(0, 1, 1, 1), at(0, 1, 2, 0), at(0, 1, 2, 1)], [104, 107, 502, 503]);
  assert.deepEqual([at(1, 1, 0, 1), at(1, 1, 1, 0)], [903, 0], "the shorter row is right-padded");
  // a chain alone goes through the copying path too (its arrays are in parts)
  assert.deepEqual(Array.from(packPromptStates([chained], shape).prompt_k.data as Float32Array).slice(0, 6), [100, 101, 102, 103, 500, 501]);
});

test("a tail chained to a voice gets its states once, after the voice's, and passes after it attend to both", async () => {
  const graph = models.graphs.soundstorm;
  let runs = 0;
  const counting: GraphRunner = { name: graph.name, spec: graph.spec, run: (f, o) => { runs++; return graph.run(f, o); } };
  const cache = new PromptCache(counting, Q);
  const rng = new Rng(11);
  const voice = tokens(rng, 8), other = tokens(rng, 8), tail = tokens(rng, 5);
  const s = await cache.get(chainPrompt(voice, tail.semantic, tail.acoustic));
  assert.equal(runs, 2, "the voice, then the tail");
  assert.equal(s.frames, 5);
  assert.equal(s.parent?.frames, 8);
  await cache.get(chainPrompt(voice, tail.semantic.slice(), tail.acoustic.slice()));
  assert.equal(runs, 2, "the same tail after the same voice is cached");
  const t = await cache.get(chainPrompt(other, tail.semantic, tail.acoustic));
  assert.equal(t.parent?.frames, 8);
  assert.equal(runs, 4, "another voice: its states, then the tail's after them");
  // a pass after voice + tail sees the tail
  const run = directPassRunner(graph, manifest);
  const semantic = Int32Array.from({ length: 6 }, (_, i) => i);
  const grid = new Int32Array(6 * Q).fill(manifest.soundstorm.mask_id);
  const withTail = await run({ prompt: chainPrompt(voice, tail.semantic, tail.acoustic), semantic, tokens: grid, level: 0, logitsFrom: 0 });
  const voiceOnly = await run({ prompt: voice, semantic, tokens: grid, level: 0, logitsFrom: 0 });
  assert.ok(withTail.some((v, i) => Math.abs(v - voiceOnly[i]) > 1e-3), "the chained tail changes the logits");
  // after an empty parent, a tail's states are those of the same frames as a prompt of their own
  const empty = { key: promptKey(new Int32Array(0), new Int32Array(0)), semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  const alone = await cache.get(tail);
  const afterEmpty = await cache.get(chainPrompt(empty, tail.semantic, tail.acoustic));
  assert.deepEqual(Array.from(afterEmpty.k), Array.from(alone.k));
  // one row of a chained prompt: joined once, the same feeds on every pass, equal to joining afresh
  const chained = chainPrompt(voice, tail.semantic, tail.acoustic);
  const f1 = await cache.feeds([chained]), f2 = await cache.feeds([chained]);
  assert.equal(f2.prompt_k.data, f1.prompt_k.data, "not copied again");
  const fresh = packPromptStates([await cache.get(chained)], kvShape(graph.spec));
  assert.deepEqual(Array.from(f1.prompt_k.data as Float32Array), Array.from(fresh.prompt_k.data as Float32Array));
  assert.deepEqual(Array.from(f1.prompt_lengths.data as Int32Array), [13]);
});

test("with cached_tail in the manifest, passes run on the new frames only, the tail chained to the voice", async () => {
  const seen: PassRequest[] = [];
  const K = manifest.codec.codebook_size;
  const fake = async (req: PassRequest) => {
    seen.push(req);
    return new Float32Array((req.semantic.length - req.logitsFrom) * K);
  };
  const rng = new Rng(3);
  const voice = tokens(rng, 6), tail = tokens(rng, 4);
  const semantic = Int32Array.from({ length: 7 }, (_, i) => i);
  const request = { voice, tailSemantic: tail.semantic, tailAcoustic: tail.acoustic, semantic, seed: 1, schedule: Array(Q).fill(1) };
  const cached = new AcousticGenerator(fake, { ...manifest, soundstorm: { ...manifest.soundstorm, cached_tail: true } });
  const out = await cached.generate(request);
  assert.equal(out.acoustic.length, 7 * Q);
  assert.ok(seen.length > 0);
  for (const r of seen) {
    assert.equal(r.semantic.length, 7);
    assert.equal(r.logitsFrom, 0);
    assert.equal(r.prompt.parent, voice);
    assert.deepEqual(Array.from(r.prompt.acoustic), Array.from(tail.acoustic));
  }
  seen.length = 0;
  const overlap = new AcousticGenerator(fake, { ...manifest, soundstorm: { ...manifest.soundstorm, cached_tail: true, tail_overlap_frames: 3 } });
  assert.equal((await overlap.generate(request)).acoustic.length, 7 * Q);
  for (const r of seen) {
    assert.equal(r.semantic.length, 3 + 7, "the tail's last 3 frames stay in the window");
    assert.equal(r.logitsFrom, 3);
    assert.deepEqual(Array.from(r.semantic.subarray(0, 3)), Array.from(tail.semantic.subarray(1)));
    assert.deepEqual(Array.from(r.prompt.semantic), [tail.semantic[0]], "the rest is chained to the voice");
    assert.equal(r.prompt.parent, voice);
  }
  seen.length = 0;
  // a fraction of the new frames (7 x 0.3 -> 2) over a floor of 1: 2 tail frames stay in the window
  const scaled = new AcousticGenerator(fake, { ...manifest, soundstorm: { ...manifest.soundstorm, cached_tail: true, tail_overlap_frames: 1, tail_overlap_fraction: 0.3 } });
  await scaled.generate(request);
  assert.ok(seen.length > 0);
  for (const r of seen) {
    assert.equal(r.semantic.length, 2 + 7);
    assert.equal(r.logitsFrom, 2);
    assert.deepEqual(Array.from(r.prompt.semantic), Array.from(tail.semantic.subarray(0, 2)));
  }
  seen.length = 0;
  // the floor holds where the fraction asks for less (7 x 0.05 -> 0)
  await new AcousticGenerator(fake, { ...manifest, soundstorm: { ...manifest.soundstorm, cached_tail: true, tail_overlap_frames: 3, tail_overlap_fraction: 0.05 } }).generate(request);
  for (const r of seen) assert.equal(r.logitsFrom, 3);
  seen.length = 0;
  await new AcousticGenerator(fake, manifest).generate(request);
  for (const r of seen) {
    assert.equal(r.semantic.length, 11, "without it the tail leads the window");
    assert.equal(r.logitsFrom, 4);
    assert.equal(r.prompt, voice);
  }
});
