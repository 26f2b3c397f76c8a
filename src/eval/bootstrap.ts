/**
 * How sure is a WER difference? A paired bootstrap over units (streams, sentences): the units are
 * resampled with replacement and the pooled difference recomputed, so the interval carries both the
 * ASR's per-sentence swings and how few units there are. Session 21 read kal16's long-form loss as
 * +4.9 points from 4 streams; 20 streams put it at +0.5.
 */
import { Rng } from "../util/rng.js";
import { normalizeWords, wordErrors } from "./wer.js";

/** One unit's word errors under two conditions, over the same reference words. */
export interface PairedErrors {
  readonly errorsA: number;
  readonly errorsB: number;
  readonly words: number;
}

/** Each side's WER pooled over the units (total errors / total words), in percent; 0 without words. */
export function pooledWers(units: readonly PairedErrors[]): { a: number; b: number } {
  let a = 0, b = 0, w = 0;
  for (const u of units) { a += u.errorsA; b += u.errorsB; w += u.words; }
  return w ? { a: (100 * a) / w, b: (100 * b) / w } : { a: 0, b: 0 };
}

/** Pooled WER(A) − WER(B) in points. */
export function werDifference(units: readonly PairedErrors[]): number {
  const { a, b } = pooledWers(units);
  return a - b;
}

/** Percentile interval of WER(A) − WER(B) over `resamples` paired resamplings of the units (seeded). */
export function werDifferenceInterval(units: readonly PairedErrors[], o: { resamples?: number; level?: number; seed?: number } = {}): [number, number] {
  const n = units.length;
  if (n === 0) return [0, 0];
  const R = o.resamples ?? 2000, level = o.level ?? 0.95;
  const rng = new Rng(o.seed ?? 1);
  const diffs = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let d = 0, w = 0;
    for (let i = 0; i < n; i++) {
      const u = units[Math.floor(rng.next() * n)];
      d += u.errorsA - u.errorsB;
      w += u.words;
    }
    diffs[r] = w ? (100 * d) / w : 0;
  }
  diffs.sort();
  const at = (q: number) => diffs[Math.min(R - 1, Math.max(0, Math.round(q * (R - 1))))];
  return [at((1 - level) / 2), at(1 - (1 - level) / 2)];
}

/** Word errors of one hypothesis against its reference (the scoring corpusWer pools). */
export function errorsOf(ref: string, hyp: string): { errors: number; words: number } {
  const r = normalizeWords(ref);
  return { errors: wordErrors(r, normalizeWords(hyp)), words: r.length };
}

/** Each sentence's word errors in one transcription of `refs`, scored once and paired as often as needed. */
export function sentenceErrors(refs: readonly string[], hyps: readonly string[]): { errors: number; words: number }[] {
  return refs.map((ref, i) => errorsOf(ref, hyps[i]));
}

/** Two scorings of the same sentences, side by side. */
export function pairErrors(a: readonly { errors: number; words: number }[], b: readonly { errors: number }[]): PairedErrors[] {
  return a.map((x, i) => ({ errorsA: x.errors, errorsB: b[i].errors, words: x.words }));
}

/** The bars' form: a pooled difference and its 95 % interval, two decimals. */
export function differenceWithInterval(units: readonly PairedErrors[]): { points: number; ci95: [number, number] } {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const [lo, hi] = werDifferenceInterval(units);
  return { points: r2(werDifference(units)), ci95: [r2(lo), r2(hi)] };
}
