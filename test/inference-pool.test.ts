/**
 * The inference scheduler on the fixture model (mechanics only: random weights): batched SoundStorm
 * passes give each window exactly the logits it gets alone, the queue is earliest-deadline-first,
 * cancelled work never runs, and a failing call fails only itself.
 */
import assert from "node:assert/strict";
import { test, before, after } from "node:test";
import { cutLogits, packPasses, splitLogits, type PassRequest } from "../src/engine/batch.js";
import { InferencePool } from "../src/engine/inference-pool.js";
import { promptKey, type PromptTokens } from "../src/engine/prompt-cache.js";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet, type ModelSet } from "../src/models/model-set.js";
import { DecodeAborted } from "../src/pipeline/acoustic/maskgit.js";
import { directPassRunner, type PassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { Rng } from "../src/util/rng.js";
import { FIXTURE_MODEL } from "./helpers.js";

const manifest = servingManifest(loadManifest(FIXTURE_MODEL));
const Q = manifest.codec.levels;
const K = manifest.codec.codebook_size;
const MASK = manifest.soundstorm.mask_id;
let local: ModelSet;
let direct: PassRunner;

/** A random voice prompt (fixture weights: mechanics only). */
function voice(rng: Rng, frames: number): PromptTokens {
  const semantic = Int32Array.from({ length: frames }, () => Math.floor(rng.next() * manifest.semantic.vocab_size));
  const acoustic = Int32Array.from({ length: frames * Q }, () => Math.floor(rng.next() * K));
  return { key: promptKey(semantic, acoustic), semantic, acoustic };
}

function window(rng: Rng, frames: number, tail: number, level: number, prompt = voice(rng, 6)): PassRequest {
  const semantic = Int32Array.from({ length: frames }, () => Math.floor(rng.next() * manifest.semantic.vocab_size));
  const tokens = new Int32Array(frames * Q).fill(MASK);
  for (let f = 0; f < frames; f++) {
    for (let q = 0; q < Q; q++) if (f < tail || q < level) tokens[f * Q + q] = Math.floor(rng.next() * K);
  }
  return { prompt, semantic, tokens, level, logitsFrom: tail };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

before(async () => {
  local = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 }, ["soundstorm"]);
  direct = directPassRunner(local.graphs.soundstorm, manifest);
});
after(async () => { await local.dispose(); });

test("packPasses right-pads rows and cutLogits keeps only each row's wanted frames", () => {
  const rng = new Rng(1);
  const reqs = [window(rng, 7, 3, 0), window(rng, 4, 1, 2)];
  const feeds = packPasses(reqs, Q, MASK);
  assert.deepEqual(feeds.semantic.dims, [2, 7]);
  assert.deepEqual(Array.from(feeds.lengths.data as Int32Array), [7, 4]);
  assert.deepEqual(Array.from(feeds.level.data as Int32Array), [0, 2]);
  const pad = (feeds.acoustic.data as Int32Array).subarray((7 + 4) * Q, 14 * Q);
  assert.ok(pad.every((v) => v === MASK), "padding frames are masked");
  const logits = new Float32Array(2 * 7 * 3).map((_, i) => i);
  const cuts = reqs.map((r) => ({ logitsFrom: r.logitsFrom, frames: r.semantic.length }));
  const parts = splitLogits(cutLogits({ data: logits, dims: [2, 7, 3] }, cuts), cuts, 3);
  assert.deepEqual(Array.from(parts[0]), Array.from(logits.subarray(3 * 3, 7 * 3)));
  assert.deepEqual(Array.from(parts[1]), Array.from(logits.subarray((7 + 1) * 3, (7 + 4) * 3)));
});

test("passes of different windows batched in one call get the logits each gets alone", async () => {
  const sizes: number[] = [];
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1,
    batching: { enabled: true, maxBatch: 8, maxBatchFrames: 10_000, maxWaitMs: 5 },
    onRun: (_g, _s, batch) => sizes.push(batch),
  });
  try {
    const rng = new Rng(7);
    // different voice prompts (one with none), tails, lengths and levels in one call
    const shared = voice(rng, 14);
    const reqs = [window(rng, 30, 12, 0, shared), window(rng, 18, 5, 1), window(rng, 41, 20, 3, shared), window(rng, 9, 0, 2, voice(rng, 0)),
      window(rng, 25, 25 - 1, 0, voice(rng, 21))];
    const alone = await Promise.all(reqs.map((r) => direct(r)));
    const batched = await Promise.all(reqs.map((r) => pool.passRunner(r, { priority: 1e12 })));
    for (let i = 0; i < reqs.length; i++) {
      assert.equal(batched[i].length, (reqs[i].semantic.length - reqs[i].logitsFrom) * K);
      assert.ok(maxAbsDiff(batched[i], alone[i]) < 1e-4, `window ${i} differs by ${maxAbsDiff(batched[i], alone[i])}`);
    }
    assert.ok(Math.max(...sizes) > 1, `no call batched more than one window (${sizes})`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), reqs.length, "every pass ran exactly once");
  } finally {
    await pool.close();
  }
});

test("the queue runs earliest deadline first, drops cancelled work, and one failing call fails only itself", async () => {
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1,
    batching: { enabled: false, maxBatch: 1, maxBatchFrames: 1, maxWaitMs: 0 },
  });
  try {
    const rng = new Rng(3);
    const order: string[] = [];
    const big = window(rng, 400, 0, 0);
    const job = (name: string, priority: number, signal?: AbortSignal) =>
      pool.passRunner(window(rng, 20, 4, 0), { priority, ...(signal ? { signal } : {}) }).then(() => { order.push(name); });
    // the first call occupies the worker; the rest queue up behind it in any order of arrival
    const first = pool.passRunner(big, { priority: 0 }).then(() => { order.push("first"); });
    const ac = new AbortController();
    const cancelled = job("cancelled", 1, ac.signal);
    const jobs = [job("late", 300), job("soon", 100), job("middle", 200)];
    ac.abort();
    await assert.rejects(cancelled, (e) => e instanceof DecodeAborted);
    await Promise.all([first, ...jobs]);
    assert.deepEqual(order, ["first", "soon", "middle", "late"]);

    const bad = pool.graph("soundstorm").run({ semantic: { data: new Int32Array(3), dims: [1, 3] } } as never);
    await assert.rejects(bad, /soundstorm/);
    const ok = await pool.passRunner(window(rng, 10, 2, 0));
    assert.equal(ok.length, 8 * K, "the pool still serves after a failed call");
  } finally {
    await pool.close();
  }
});

test("a call without a priority is due when submitted: it waits behind overdue work, not ahead of all of it", async () => {
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1,
    batching: { enabled: false, maxBatch: 1, maxBatchFrames: 1, maxWaitMs: 0 },
  });
  try {
    const rng = new Rng(4);
    const order: string[] = [];
    // due before everything else whatever performance.now() reads (under a second into the process, "now - 1000" is
    // below 0), so it is the call that occupies the worker while the rest queue
    const first = pool.passRunner(window(rng, 400, 0, 0), { priority: -1e12 }).then(() => { order.push("first"); });
    const unset = pool.passRunner(window(rng, 20, 4, 0)).then(() => { order.push("unset"); });
    const overdue = pool.passRunner(window(rng, 20, 4, 0), { priority: performance.now() - 1000 }).then(() => { order.push("overdue"); });
    const later = pool.passRunner(window(rng, 20, 4, 0), { priority: performance.now() + 60_000 }).then(() => { order.push("later"); });
    await Promise.all([first, unset, overdue, later]);
    assert.deepEqual(order, ["first", "overdue", "unset", "later"]);
  } finally {
    await pool.close();
  }
});

test("a crashed worker whose replacement cannot start: calls fail at once, not hang, and the pool recovers on retry", async () => {
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1,
    batching: { enabled: false, maxBatch: 1, maxBatchFrames: 1, maxWaitMs: 0 },
  });
  // reaching into the pool (test of mechanics): its options decide where a replacement loads from, its slots hold the workers
  const inner = pool as unknown as { opts: { modelDir: string }; slots: { worker: { terminate(): Promise<number> } }[] };
  try {
    const rng = new Rng(5);
    assert.equal(pool.healthy, true);
    inner.opts = { ...inner.opts, modelDir: "/nonexistent-model-dir" };            // the replacement will fail to load
    const queued = pool.passRunner(window(rng, 400, 0, 0));
    await inner.slots[0].worker.terminate();
    await assert.rejects(queued, /inference worker/);
    // waits, not time limits: a replacement takes its worker's start-up time to fail, seconds on a loaded machine
    for (let i = 0; i < 3000 && pool.healthy; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(pool.healthy, false, "no worker runs or starts");
    await assert.rejects(pool.passRunner(window(rng, 10, 2, 0)), /no inference worker/);
    inner.opts = { ...inner.opts, modelDir: FIXTURE_MODEL };                       // the next retry (1 s later) can load
    for (let i = 0; i < 3000 && inner.slots.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(pool.healthy, true);
    const ok = await pool.passRunner(window(rng, 10, 2, 0));
    assert.equal(ok.length, 8 * K, "serving again after the retry");
  } finally {
    await pool.close();
  }
});

test("a malformed pass fails its own call only; a worker that finishes starting after close() does not join", async () => {
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1,
    batching: { enabled: true, maxBatch: 4, maxBatchFrames: 400, maxWaitMs: 5 },
  });
  const inner = pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] };
  try {
    const rng = new Rng(9);
    const bad = { ...window(rng, 10, 0, 0), logitsFrom: 11 };
    const [b, g] = await Promise.allSettled([pool.passRunner(bad), pool.passRunner(window(rng, 10, 0, 0))]);
    assert.equal(b.status, "rejected");
    assert.equal(g.status, "fulfilled", "its batch-mate still ran");
    assert.equal((await pool.passRunner(window(rng, 10, 2, 0))).length, 8 * K, "and the pool serves on");
    // a crash starts a replacement; close while it is loading
    await inner.slots[0].worker.terminate();
  } finally {
    await pool.close();
  }
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(inner.slots.length, 0, "no worker joined after close");
});

test("a batch of passes does not jump ahead of another kind of call due earlier", async () => {
  const pool = await InferencePool.start(manifest, {
    modelDir: FIXTURE_MODEL, graphs: ["soundstorm", "codec_decoder"], workers: 1, intraOpThreads: 1,
    batching: { enabled: true, maxBatch: 4, maxBatchFrames: 4000, maxWaitMs: 1 },
  });
  try {
    const rng = new Rng(11);
    const order: string[] = [];
    const now = performance.now();
    const first = pool.passRunner(window(rng, 400, 0, 0), { priority: 0 }).then(() => { order.push("first"); });
    const a = pool.passRunner(window(rng, 20, 0, 0), { priority: now + 100 }).then(() => { order.push("A pass"); });
    const codes = { data: new BigInt64Array(Q * 10), dims: [1, Q, 10] };
    const b = pool.graph("codec_decoder").run({ codes }, { priority: now + 200 }).then(() => { order.push("B codec"); });
    const c = pool.passRunner(window(rng, 300, 0, 0), { priority: now + 60_000 }).then(() => { order.push("C pass"); });
    await Promise.all([first, a, b, c]);
    assert.deepEqual(order, ["first", "A pass", "B codec", "C pass"]);
  } finally {
    await pool.close();
  }
});
