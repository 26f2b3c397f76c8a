/**
 * SoundStorm's confidence-based parallel decoding over an RVQ token grid,
 * level by level (coarse to fine). Pure logic: the model is a callback that
 * returns one level's logits for the whole window.
 *
 * Rules (see shared/reference/soundstorm.md "Decoding details"):
 * - only still-masked cells of the current level are ranked and committed;
 *   prompt and committed cells are never changed;
 * - temperature anneals downwards; the last iteration of a level is greedy;
 * - confidence = log-prob of the sampled token + annealed Gumbel noise;
 * - after step i of S, floor(n cos(pi/2 (i+1)/S)) cells stay masked.
 */
import { Rng } from "../../util/rng.js";
import { maskedAfterStep, noiseAt, temperatureAt } from "./schedule.js";

export interface TokenGrid {
  readonly frames: number;
  readonly levels: number;
  /** Row-major [frames, levels]; maskId marks cells to generate. Updated in place. */
  readonly tokens: Int32Array;
  /** Frames before this one are prompt: never decoded (a cell there is masked only where its frame's finer levels all
   * are too: levels an earlier window left ungenerated). The model returns logits from here on. Default 0. */
  readonly logitsFrom?: number;
}

export interface MaskGitOptions {
  /** Iterations per level, e.g. [16, 1, 1, ...]. */
  readonly schedule: readonly number[];
  readonly codebookSize: number;
  readonly maskId: number;
  readonly temperatureStart: number;
  readonly temperatureEnd: number;
  readonly noiseScale: number;
  /** Asked before each level that has cells to fill (0 = coarsest): true leaves it and every finer level masked
   * (the server shedding work while behind). Absent: every level of the schedule is decoded. */
  readonly stopBefore?: (level: number) => boolean;
}

/** Returns [(frames - logitsFrom) * codebookSize] logits of `level` given the current grid. */
export type PredictLevel = (level: number, grid: TokenGrid) => Promise<Float32Array>;

export interface MaskGitTrace {
  passes: number;
  /** Levels left masked because stopBefore said so (0 when it never did). */
  stoppedLevels: number;
  /** commits[level][step] = cells committed at that step (levels after a stop have no entry). */
  commits: number[][];
}

/** Thrown (as the promise's rejection) when the signal aborts between passes. */
export class DecodeAborted extends Error {
  constructor() {
    super("decoding aborted");
    this.name = "DecodeAborted";
  }
}

export async function decodeMaskGit(
  grid: TokenGrid,
  opts: MaskGitOptions,
  predict: PredictLevel,
  rng: Rng,
  signal?: AbortSignal,
): Promise<MaskGitTrace> {
  const { frames, levels, tokens } = grid;
  const K = opts.codebookSize;
  if (opts.schedule.length !== levels) throw new Error(`schedule has ${opts.schedule.length} levels, grid has ${levels}`);
  if (tokens.length !== frames * levels) throw new Error(`grid of ${tokens.length} cells is not ${frames}x${levels}`);
  const from = grid.logitsFrom ?? 0;
  // prompt frames may lack their finer levels (never generated: acousticLevels, or shed), nothing else
  for (let f = 0; f < from; f++) {
    let q = 0;
    while (q < levels && tokens[f * levels + q] !== opts.maskId) q++;
    for (; q < levels; q++) if (tokens[f * levels + q] !== opts.maskId) throw new Error(`prompt frame ${f} has level ${q + 1} without the levels before it`);
  }
  const trace: MaskGitTrace = { passes: 0, stoppedLevels: 0, commits: [] };
  const sampled = new Int32Array(frames);
  const conf = new Float64Array(frames);
  const probs = new Float64Array(K);

  for (let q = 0; q < levels; q++) {
    const steps = opts.schedule[q];
    if (steps === 0) {  // a level not generated: its cells stay masked, the tail's too
      trace.commits.push([]);
      continue;
    }
    // a masked cell before `from` is a level an earlier window left ungenerated (shed): it stays masked, and the
    // model reads the mask id there as it reads the finer levels of the frames it fills
    const masked: number[] = [];
    for (let f = from; f < frames; f++) if (tokens[f * levels + q] === opts.maskId) masked.push(f);
    const n = masked.length;
    if (n > 0 && opts.stopBefore?.(q) === true) {
      for (let r = q; r < levels; r++) if (opts.schedule[r] > 0) trace.stoppedLevels++;
      break;
    }
    const commits: number[] = [];
    trace.commits.push(commits);
    if (n === 0) continue;
    let open = masked; // frames of this level still masked

    for (let i = 0; i < steps && open.length > 0; i++) {
      if (signal?.aborted) throw new DecodeAborted();
      const logits = await predict(q, grid);
      trace.passes++;
      if (logits.length !== (frames - from) * K) throw new Error(`model returned ${logits.length} logits, expected ${frames - from}x${K}`);
      const last = i === steps - 1;
      const temp = temperatureAt(i, steps, opts.temperatureStart, opts.temperatureEnd);
      const noise = noiseAt(i, steps, opts.noiseScale);

      for (const f of open) {
        const base = (f - from) * K;
        let best = 0;
        let max = -Infinity;
        for (let k = 0; k < K; k++) {
          const v = logits[base + k];
          if (v > max) { max = v; best = k; }
        }
        if (last) {  // everything left is committed: no ranking needed
          sampled[f] = best;
          conf[f] = 0;
          continue;
        }
        if (temp <= 0) {  // greedy: argmax, ranked by its log-probability (plus noise, if any)
          let sum = 0;
          for (let k = 0; k < K; k++) sum += Math.exp(logits[base + k] - max);
          sampled[f] = best;
          conf[f] = -Math.log(sum) + (noise > 0 ? noise * rng.gumbel() : 0);
          continue;
        }
        // softmax(logits / temp), sample, and rank by log p(sample) under that same tempered distribution.
        // MaskGIT's reference ranks by the untempered probability and anneals noise with (i+1)/S (schedule.ts
        // uses i/S); the defaults (temperature 1 -> 0.3, noise_scale 4.5) were chosen with this ranking, so it
        // stays; models/training/sstrain/soundstorm/generate.py does the same
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const p = Math.exp((logits[base + k] - max) / temp);
          probs[k] = p;
          sum += p;
        }
        let u = rng.next() * sum;
        let tok = K - 1;
        for (let k = 0; k < K; k++) {
          u -= probs[k];
          if (u <= 0) { tok = k; break; }
        }
        sampled[f] = tok;
        conf[f] = Math.log(probs[tok] / sum) + noise * rng.gumbel();
      }

      const keepMasked = last ? 0 : Math.min(maskedAfterStep(n, i, steps), open.length - 1);
      const commitCount = open.length - keepMasked;
      // most confident first; ties broken by frame order for determinism
      const order = open.slice().sort((a, b) => conf[b] - conf[a] || a - b);
      for (let j = 0; j < commitCount; j++) {
        const f = order[j];
        tokens[f * levels + q] = sampled[f];
      }
      commits.push(commitCount);
      open = order.slice(commitCount).sort((a, b) => a - b);
    }
  }
  return trace;
}
