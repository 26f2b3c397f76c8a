import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMaskGit, DecodeAborted, type MaskGitOptions, type TokenGrid } from "../src/pipeline/acoustic/maskgit.js";
import { maskedAfterStep, temperatureAt } from "../src/pipeline/acoustic/schedule.js";
import { Rng } from "../src/util/rng.js";

const K = 16;
const MASK = K;

function opts(schedule: number[]): MaskGitOptions {
  return { schedule, codebookSize: K, maskId: MASK, temperatureStart: 1.0, temperatureEnd: 0.2, noiseScale: 4.5 };
}

/** A grid with `prompt` unmasked frames followed by masked ones. */
function grid(frames: number, levels: number, prompt: number): TokenGrid {
  const tokens = new Int32Array(frames * levels).fill(MASK);
  for (let f = 0; f < prompt; f++) for (let q = 0; q < levels; q++) tokens[f * levels + q] = (f * 7 + q) % K;
  return { frames, levels, tokens };
}

/** Deterministic pseudo-model: logits depend on the level, the frame and the tokens already present. */
function fakeModel(calls: { level: number; snapshot: Int32Array; logits: Float32Array }[] = []) {
  return async (level: number, g: TokenGrid) => {
    const logits = new Float32Array(g.frames * K);
    let h = level + 1;
    for (let i = 0; i < g.tokens.length; i++) h = (Math.imul(h, 31) + g.tokens[i]) | 0;
    const r = new Rng(h >>> 0);
    for (let i = 0; i < logits.length; i++) logits[i] = r.next() * 4;
    calls.push({ level, snapshot: g.tokens.slice(), logits });
    return logits;
  };
}

test("cosine schedule: masked counts fall to zero and per-step commits sum to n", () => {
  for (const n of [0, 1, 5, 17, 100, 613]) {
    for (const s of [1, 2, 4, 8, 16]) {
      let prev = n;
      let sum = 0;
      for (let i = 0; i < s; i++) {
        const left = maskedAfterStep(n, i, s);
        assert.ok(left <= prev, `monotone n=${n} s=${s}`);
        sum += prev - left;
        prev = left;
      }
      assert.equal(prev, 0);
      assert.equal(sum, n);
    }
  }
  assert.equal(maskedAfterStep(100, 0, 16), Math.floor(100 * Math.cos(Math.PI / 2 / 16)));
});

test("temperature anneals downwards and reaches the end value", () => {
  const t = [0, 1, 2, 3].map((i) => temperatureAt(i, 4, 1.0, 0.2));
  for (let i = 1; i < t.length; i++) assert.ok(t[i] < t[i - 1]);
  assert.ok(Math.abs(t[3] - 0.2) < 1e-12);
});

test("per-level commits sum to the masked cells; prompt and committed cells never change", async () => {
  const frames = 40, levels = 4, prompt = 12;
  const g = grid(frames, levels, prompt);
  const before = g.tokens.slice();
  const calls: { level: number; snapshot: Int32Array; logits: Float32Array }[] = [];
  const trace = await decodeMaskGit(g, opts([8, 2, 1, 1]), fakeModel(calls), new Rng(7));
  for (let q = 0; q < levels; q++) {
    assert.equal(trace.commits[q].reduce((a, b) => a + b, 0), frames - prompt, `level ${q}`);
  }
  assert.equal(trace.passes, 8 + 2 + 1 + 1);
  // prompt untouched
  for (let i = 0; i < prompt * levels; i++) assert.equal(g.tokens[i], before[i]);
  // no mask left, all codes valid
  for (const t of g.tokens) assert.ok(t >= 0 && t < K);
  // a cell, once committed (seen unmasked in some pass), keeps its value to the end
  for (const c of calls) {
    for (let i = 0; i < c.snapshot.length; i++) if (c.snapshot[i] !== MASK) assert.equal(g.tokens[i], c.snapshot[i]);
  }
  // coarse to fine: a level's passes see every finer level fully masked after the prompt
  for (const c of calls) {
    for (let f = prompt; f < frames; f++) for (let q = c.level + 1; q < levels; q++) assert.equal(c.snapshot[f * levels + q], MASK);
  }
});

test("the last iteration of a level is greedy (argmax of that pass's logits)", async () => {
  const frames = 30, levels = 2, prompt = 5;
  const g = grid(frames, levels, prompt);
  const calls: { level: number; snapshot: Int32Array; logits: Float32Array }[] = [];
  await decodeMaskGit(g, opts([6, 1]), fakeModel(calls), new Rng(3));
  for (const q of [0, 1]) {
    const lastCall = calls.filter((c) => c.level === q).at(-1)!;
    for (let f = prompt; f < frames; f++) {
      if (lastCall.snapshot[f * levels + q] !== MASK) continue; // committed earlier
      let best = 0;
      for (let k = 1; k < K; k++) if (lastCall.logits[f * K + k] > lastCall.logits[f * K + best]) best = k;
      assert.equal(g.tokens[f * levels + q], best, `frame ${f} level ${q}`);
    }
  }
});

test("a fixed seed gives identical tokens; another seed differs", async () => {
  const run = async (seed: number) => {
    const g = grid(50, 3, 10);
    await decodeMaskGit(g, opts([8, 1, 1]), fakeModel(), new Rng(seed));
    return g.tokens;
  };
  assert.deepEqual(await run(42), await run(42));
  assert.notDeepEqual(await run(42), await run(43));
});

test("an aborted signal stops decoding between passes", async () => {
  const ac = new AbortController();
  let passes = 0;
  const model = fakeModel();
  await assert.rejects(decodeMaskGit(grid(20, 2, 4), opts([8, 1]), async (l, g) => {
    if (++passes === 3) ac.abort();
    return model(l, g);
  }, new Rng(1), ac.signal), DecodeAborted);
  assert.equal(passes, 3);
});

/** fakeModel for a grid whose logits start at `from` (a prompt the model reads but does not predict). */
function fakeModelFrom(from: number, calls: { level: number; snapshot: Int32Array }[] = []) {
  return async (level: number, g: TokenGrid) => {
    calls.push({ level, snapshot: g.tokens.slice() });
    const r = new Rng(level + 11);
    return Float32Array.from({ length: (g.frames - from) * K }, () => r.next() * 4);
  };
}

test("stopBefore ends a window's decoding before a level: it and the finer levels stay masked, the coarser are untouched", async () => {
  const frames = 20, levels = 4, prompt = 5;
  const full = grid(frames, levels, prompt);
  await decodeMaskGit({ ...full, logitsFrom: prompt }, opts([3, 1, 1, 1]), fakeModelFrom(prompt), new Rng(3));
  const g = grid(frames, levels, prompt);
  const asked: number[] = [];
  const trace = await decodeMaskGit({ ...g, logitsFrom: prompt }, { ...opts([3, 1, 1, 1]), stopBefore: (q) => { asked.push(q); return q === 2; } },
    fakeModelFrom(prompt), new Rng(3));
  assert.deepEqual(asked, [0, 1, 2]);
  assert.equal(trace.passes, 3 + 1);
  assert.equal(trace.stoppedLevels, 2);
  assert.equal(trace.commits.length, 2, "no entries for the levels after the stop");
  for (let f = prompt; f < frames; f++) {
    for (let q = 0; q < levels; q++) assert.equal(g.tokens[f * levels + q], q < 2 ? full.tokens[f * levels + q] : MASK, `frame ${f} level ${q}`);
  }
});

test("prompt cells of levels never generated stay masked and are read as such; any other masked prompt cell is an error", async () => {
  const frames = 16, levels = 4, prompt = 6;
  const g = grid(frames, levels, prompt);
  for (let f = 2; f < prompt; f++) g.tokens.fill(MASK, f * levels + 2, (f + 1) * levels);   // frames 2-5: levels 3-4 shed
  const before = g.tokens.slice();
  const calls: { level: number; snapshot: Int32Array }[] = [];
  const trace = await decodeMaskGit({ ...g, logitsFrom: prompt }, opts([2, 1, 1, 1]), fakeModelFrom(prompt, calls), new Rng(5));
  assert.equal(trace.passes, 2 + 1 + 1 + 1);
  assert.deepEqual([...g.tokens.subarray(0, prompt * levels)], [...before.subarray(0, prompt * levels)], "the prompt is as it was");
  for (const c of calls) assert.deepEqual([...c.snapshot.subarray(0, prompt * levels)], [...before.subarray(0, prompt * levels)], "the model reads the masks");
  assert.ok(!g.tokens.subarray(prompt * levels).includes(MASK), "every cell of the new frames is decoded");
  const holey = grid(frames, levels, prompt);
  holey.tokens[3 * levels + 1] = MASK;   // level 2 missing under a level 3 that is there
  await assert.rejects(decodeMaskGit({ ...holey, logitsFrom: prompt }, opts([2, 1, 1, 1]), fakeModelFrom(prompt), new Rng(5)),
    /prompt frame 3 has level 3 without the levels before it/);
});
