import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMaskGit, type TokenGrid } from "../src/pipeline/acoustic/maskgit.js";
import { bestPath, loadTransitions, type LevelTransitions } from "../src/pipeline/acoustic/transitions.js";
import { Rng } from "../src/util/rng.js";

const K = 8;
const MASK = K;

/** A table where only `next = prev + 1 (mod K)` is rewarded, by `bonus` nats. */
function successorTable(bonus: number, weight = 1, beam = 4): LevelTransitions {
  const pmi = new Float32Array(K * K);
  for (let a = 0; a < K; a++) pmi[a * K + ((a + 1) % K)] = bonus;
  return { level: 0, codebook: K, weight, beam, pmi };
}

/** Logits [frames, K] with `best` per frame first and `second` close behind. */
function logitsOf(rows: [best: number, second: number][]): Float32Array {
  const out = new Float32Array(rows.length * K).fill(-5);
  rows.forEach(([b, s], f) => { out[f * K + b] = 2; out[f * K + s] = 1.5; });
  return out;
}

const argmaxes = (m: Map<number, number>) => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);

test("with weight 0, the best path is every cell's argmax", () => {
  const logits = logitsOf([[3, 4], [0, 1], [6, 2], [5, 7]]);
  const path = bestPath(successorTable(5, 0), 4, 0, [0, 1, 2, 3], logits, () => -1);
  assert.deepEqual(argmaxes(path), [3, 0, 6, 5]);
});

test("a strong transition bonus makes the path follow the table over the runner-up candidates", () => {
  // argmaxes 3,0,6 ; runners-up 3,4,5: the successor chain 3 -> 4 -> 5 wins with a large bonus
  const logits = logitsOf([[3, 1], [0, 4], [6, 5]]);
  const path = bestPath(successorTable(3), 3, 0, [0, 1, 2], logits, () => -1);
  assert.deepEqual(argmaxes(path), [3, 4, 5]);
});

test("fixed cells constrain the path from both sides; logits start at `from`", () => {
  // frame 0 is a committed tail code 1, frame 2 open, frame 3 fixed at 4: frame 1 and 2 prefer 2 -> 3 -> (4)
  const from = 1;
  const logits = logitsOf([[7, 2], [0, 3], [0, 0]]);   // rows for frames 1..3 (frame 3 is not open)
  const fixed = (f: number) => (f === 0 ? 1 : f === 3 ? 4 : -1);
  const path = bestPath(successorTable(3), 4, from, [1, 2], logits, fixed);
  assert.deepEqual([path.get(1), path.get(2)], [2, 3]);
  assert.equal(path.size, 2, "fixed cells are not returned");
});

test("a masked cell that is not being committed cuts the path (no transition across it)", () => {
  const logits = logitsOf([[3, 1], [0, 0], [6, 4]]);
  // frame 1 is masked but not open: frames 0 and 2 are decided on their own logits
  const path = bestPath(successorTable(10), 3, 0, [0, 2], logits, () => -1);
  assert.deepEqual([path.get(0), path.get(2)], [3, 6]);
});

test("MaskGIT commits a level's last step by the best path; other levels by argmax; greedy matches the plain decoder", async () => {
  const frames = 6, levels = 2;
  const g: TokenGrid = { frames, levels, tokens: new Int32Array(frames * levels).fill(MASK) };
  const rows: [number, number][] = [[3, 1], [0, 4], [6, 5], [2, 6], [1, 7], [5, 0]];
  const predict = async () => logitsOf(rows);
  const base = { schedule: [1, 1], codebookSize: K, maskId: MASK, temperatureStart: 0, temperatureEnd: 0, noiseScale: 0 };
  await decodeMaskGit(g, { ...base, transitions: successorTable(3) }, predict, new Rng(1));
  const level0 = Array.from({ length: frames }, (_, f) => g.tokens[f * levels]);
  const level1 = Array.from({ length: frames }, (_, f) => g.tokens[f * levels + 1]);
  assert.deepEqual(level0, [3, 4, 5, 6, 7, 0], "level 0 follows the successor chain through the runners-up");
  assert.deepEqual(level1, rows.map(([b]) => b), "level 1 has no table: argmax");
  const plain: TokenGrid = { frames, levels, tokens: new Int32Array(frames * levels).fill(MASK) };
  await decodeMaskGit(plain, base, predict, new Rng(1));
  assert.deepEqual(Array.from({ length: frames }, (_, f) => plain.tokens[f * levels]), rows.map(([b]) => b));
});

test("loadTransitions scales int8 values and rejects a table of the wrong size", () => {
  const dir = mkdtempSync(join(tmpdir(), "trans-"));
  const q = new Int8Array(K * K);
  q[1 * K + 2] = 32;
  q[3 * K + 0] = -128 + 1;
  writeFileSync(join(dir, "t.bin"), q);
  const t = loadTransitions(dir, { file: "t.bin", level: 0, scale: 1 / 16, weight: 0.5, beam: 4 }, K);
  assert.equal(t.pmi[1 * K + 2], 2);
  assert.equal(t.pmi[3 * K + 0], -127 / 16);
  assert.equal(t.weight, 0.5);
  assert.throws(() => loadTransitions(dir, { file: "t.bin", level: 0, scale: 1, weight: 1, beam: 4 }, K + 1), /bytes, expected/);
});
