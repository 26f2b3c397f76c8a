/** Units of real audio with a switch penalty (manifest semantic.switch_penalty): the Viterbi pass and its contract. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadManifest } from "../src/models/manifest.js";
import type { GraphRunner, TensorValue } from "../src/models/ort.js";
import { unitsOfAudio, unitsWithSwitchPenalty } from "../src/pipeline/semantic/units-of-audio.js";
import { Rng } from "../src/util/rng.js";
import { fixtureCopy } from "./helpers.js";

function pathCost(d: ArrayLike<number>, vocab: number, units: ArrayLike<number>, penalty: number): number {
  let c = 0;
  for (let t = 0; t < units.length; t++) c += d[t * vocab + units[t]] + (t > 0 && units[t] !== units[t - 1] ? penalty : 0);
  return c;
}

/** The cheapest path by trying every one (vocab^frames of them). */
function bruteForceCost(d: ArrayLike<number>, frames: number, vocab: number, penalty: number): number {
  let best = Infinity;
  const u = new Array<number>(frames).fill(0);
  for (let n = 0; n < vocab ** frames; n++) {
    for (let t = 0, r = n; t < frames; t++, r = Math.floor(r / vocab)) u[t] = r % vocab;
    best = Math.min(best, pathCost(d, vocab, u, penalty));
  }
  return best;
}

test("the switch-penalty path is the cheapest of all paths (exhaustive check on small cases)", () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const frames = 1 + (trial % 6), vocab = 2 + (trial % 3), penalty = [0, 0.05, 0.3, 2][trial % 4];
    const d = Float32Array.from({ length: frames * vocab }, () => rng.next());
    const u = unitsWithSwitchPenalty(d, frames, vocab, penalty);
    assert.equal(u.length, frames);
    assert.ok(Math.abs(pathCost(d, vocab, u, penalty) - bruteForceCost(d, frames, vocab, penalty)) < 1e-9, `trial ${trial}`);
  }
});

test("penalty 0 gives each frame's nearest unit; a penalty removes flicker but keeps real changes", () => {
  // frames 0-5 hover between units 0 and 1 (0 is closer on average), frames 6-9 are clearly unit 2
  const rows = [[0.10, 0.12, 1], [0.13, 0.11, 1], [0.10, 0.12, 1], [0.13, 0.11, 1], [0.10, 0.12, 1], [0.10, 0.13, 1],
    [1, 1, 0.1], [1, 1, 0.1], [1, 1, 0.1], [1, 1, 0.1]];
  const d = Float32Array.from(rows.flat());
  assert.deepEqual([...unitsWithSwitchPenalty(d, 10, 3, 0)], [0, 1, 0, 1, 0, 0, 2, 2, 2, 2]);
  assert.deepEqual([...unitsWithSwitchPenalty(d, 10, 3, 0.05)], [0, 0, 0, 0, 0, 0, 2, 2, 2, 2]);
  assert.deepEqual([...unitsWithSwitchPenalty(new Float32Array(0), 0, 3, 0.05)], []);
  assert.throws(() => unitsWithSwitchPenalty(d, 9, 3, 0.05), /expected 9 x 3/);
});

/** A stand-in tokenizer graph (for mechanics): fixed distances, and the per-frame argmin as its units. */
function fakeTokenizer(d: Float32Array, frames: number, vocab: number): GraphRunner {
  const units = BigInt64Array.from({ length: frames }, (_, t) => {
    let j = 0;
    for (let k = 1; k < vocab; k++) if (d[t * vocab + k] < d[t * vocab + j]) j = k;
    return BigInt(j);
  });
  return {
    name: "semantic_tokenizer", spec: loadManifest("models/fixture").graphs.semantic_tokenizer!,
    async run(): Promise<Record<string, TensorValue>> {
      return { units: { data: units, dims: [1, frames] }, distances: { data: d, dims: [1, frames, vocab] } };
    },
  };
}

test("unitsOfAudio reads the graph's units without a penalty and decodes its distances with one", async () => {
  const d = Float32Array.from([0.1, 0.12, 0.13, 0.11, 0.1, 0.12]);
  const g = fakeTokenizer(d, 3, 2), pcm = new Float32Array(1920);
  const plain = loadManifest("models/fixture");
  assert.deepEqual([...await unitsOfAudio(g, plain, pcm)], [0, 1, 0]);
  const dir = fixtureCopy((m) => {
    m.semantic.switch_penalty = 0.05;
    const tok = (m.graphs as Record<string, { outputs: Record<string, unknown> }>).semantic_tokenizer;
    tok.outputs.distances = { name: "distances", dtype: "float32", shape: ["batch", "semantic_frames", "units"] };
  });
  assert.deepEqual([...await unitsOfAudio(g, loadManifest(dir), pcm)], [0, 0, 0]);
});

test("a switch penalty without the tokenizer's distances output is refused at load", () => {
  const dir = fixtureCopy((m) => { m.semantic.switch_penalty = 0.05; });
  assert.throws(() => loadManifest(dir), /switch_penalty needs the semantic_tokenizer graph's distances output/);
});
