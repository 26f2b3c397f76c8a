/**
 * Code transitions for one RVQ level: a [codebook x codebook] table of pointwise mutual information
 * pmi(prev, next) between neighbouring frames' codes, counted on real codec codes
 * (models/training/sstrain/soundstorm/transitions.py). SoundStorm predicts level 1 from the semantic
 * units and the voice prompt and hardly looks at the codes around a cell, so committing every cell by
 * its own argmax ignores what real speech says about neighbouring codes. When the table is present,
 * a level's final commit instead takes the best path through each open cell's top candidates,
 * maximising sum(log p(code)) + weight * sum(pmi(prev, next)); cells already fixed (prompt, tail,
 * committed earlier) are part of the path as single candidates.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface TransitionsSpec {
  /** int8 file, row-major [codebook, codebook]: pmi(prev, next) / scale. */
  readonly file: string;
  /** 0-based RVQ level the table is for. */
  readonly level: number;
  /** Nats per int8 step. */
  readonly scale: number;
  /** Weight of the transition term against SoundStorm's log-probabilities (0 turns it off). */
  readonly weight: number;
  /** Candidates per open cell (the top logits). */
  readonly beam: number;
}

export interface LevelTransitions {
  readonly level: number;
  readonly codebook: number;
  readonly weight: number;
  readonly beam: number;
  /** pmi(prev, next) in nats, row-major [prev, next]. */
  readonly pmi: Float32Array;
}

/** Reads a model set's transition table and checks its size against the codebook. */
export function loadTransitions(modelDir: string, spec: TransitionsSpec, codebook: number): LevelTransitions {
  const path = join(modelDir, spec.file);
  const raw = readFileSync(path);
  if (raw.length !== codebook * codebook) throw new Error(`${path}: ${raw.length} bytes, expected ${codebook}x${codebook}`);
  const q = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
  const pmi = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) pmi[i] = q[i] * spec.scale;
  return { level: spec.level, codebook, weight: spec.weight, beam: spec.beam, pmi };
}

/**
 * The best codes for one level's open cells. `fixed(f)` is frame f's code when it is not open (or -1
 * when masked and not open, which cuts the path there); `logits` are the model's for frames
 * `from`.. (row of `codebook` values). Returns frame -> code for every frame in `open` (ascending).
 */
export function bestPath(
  t: LevelTransitions,
  frames: number,
  from: number,
  open: readonly number[],
  logits: Float32Array,
  fixed: (frame: number) => number,
): Map<number, number> {
  const K = t.codebook;
  const B = Math.max(1, Math.min(t.beam, K));
  const result = new Map<number, number>();
  if (open.length === 0) return result;
  const isOpen = new Uint8Array(frames);
  for (const f of open) isOpen[f] = 1;
  const lo = Math.max(0, open[0] - 1);
  const hi = Math.min(frames - 1, open[open.length - 1] + 1);

  // candidates and their scores per frame in [lo, hi]
  const cand: Int32Array[] = [];
  const score: Float64Array[] = [];
  for (let f = lo; f <= hi; f++) {
    if (!isOpen[f]) {
      const c = fixed(f);
      cand.push(c >= 0 ? Int32Array.of(c) : new Int32Array(0));
      score.push(Float64Array.of(0));
      continue;
    }
    const base = (f - from) * K;
    let max = -Infinity;
    for (let k = 0; k < K; k++) if (logits[base + k] > max) max = logits[base + k];
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(logits[base + k] - max);
    const lse = max + Math.log(sum);
    const top = topK(logits, base, K, B);
    cand.push(top);
    score.push(Float64Array.from(top, (k) => logits[base + k] - lse));
  }

  // Viterbi; an empty candidate set (a masked cell that is not being committed) starts a new path
  const n = hi - lo + 1;
  const back: Int32Array[] = new Array(n);
  let prev = new Float64Array(0);
  for (let i = 0; i < n; i++) {
    const c = cand[i];
    const cur = new Float64Array(c.length);
    const bp = new Int32Array(c.length).fill(-1);
    const pc = i > 0 ? cand[i - 1] : new Int32Array(0);
    for (let j = 0; j < c.length; j++) {
      let best = pc.length ? -Infinity : 0;
      let arg = -1;
      for (let p = 0; p < pc.length; p++) {
        const v = prev[p] + t.weight * t.pmi[pc[p] * K + c[j]];
        if (v > best) { best = v; arg = p; }
      }
      cur[j] = best + score[i][j];
      bp[j] = arg;
    }
    back[i] = bp;
    prev = cur;
    // trace back through a segment when the next frame cannot continue it
    const segmentEnds = i === n - 1 || cand[i + 1].length === 0 || c.length === 0;
    if (segmentEnds && c.length > 0) {
      let j = 0;
      for (let k = 1; k < c.length; k++) if (cur[k] > cur[j]) j = k;
      for (let ii = i; ii >= 0 && j >= 0; ii--) {
        const f = lo + ii;
        if (isOpen[f]) result.set(f, cand[ii][j]);
        j = back[ii][j];
      }
    }
  }
  return result;
}

/** Indices of the k largest values of v[base .. base+n), best first. */
function topK(v: Float32Array, base: number, n: number, k: number): Int32Array {
  const idx = new Int32Array(k).fill(-1);
  const val = new Float64Array(k).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const x = v[base + i];
    if (x <= val[k - 1]) continue;
    let j = k - 1;
    while (j > 0 && val[j - 1] < x) { val[j] = val[j - 1]; idx[j] = idx[j - 1]; j--; }
    val[j] = x;
    idx[j] = i;
  }
  return idx;
}
