/**
 * Packing SoundStorm passes of different windows into one batched model call, and cutting the
 * result back into per-window logits. Pure functions: the pool's worker and the local runner share
 * them. Rows are right-padded to the longest window; `lengths` tells the graph which frames are
 * real (it masks the rest), `level` which RVQ level each row predicts. Each row's voice prompt is
 * not in the window: its cached states are added where the graph runs (PromptCache.feeds). Only the
 * logits a window's decoder reads (frames from `logitsFrom` to its end) are kept.
 */
import type { TensorValue } from "../models/ort.js";
import type { PromptTokens } from "./prompt-cache.js";

/** One SoundStorm pass over one window (after its voice prompt). */
export interface PassRequest {
  /** The voice prompt the window follows (its states come from a PromptCache). */
  readonly prompt: PromptTokens;
  /** Semantic tokens at the frame rate, [frames]. */
  readonly semantic: Int32Array;
  /** The current token grid, row-major [frames, levels] (mask id where still to generate). */
  readonly tokens: Int32Array;
  /** 0-based RVQ level to predict. */
  readonly level: number;
  /** First frame whose logits are wanted (the tail before it is never decoded; only its levels that were never
   * generated hold the mask id). */
  readonly logitsFrom: number;
}

export type PassFeeds = Record<"semantic" | "acoustic" | "level" | "lengths", TensorValue>;

/** Which of a window's logits are kept: frames [logitsFrom, frames). */
export interface LogitsCut {
  readonly logitsFrom: number;
  readonly frames: number;
}

export function framesOf(r: PassRequest): number {
  return r.semantic.length;
}

export function cutOf(r: PassRequest): LogitsCut {
  return { logitsFrom: r.logitsFrom, frames: r.semantic.length };
}

export function packPasses(reqs: readonly PassRequest[], levels: number, maskId: number): PassFeeds {
  if (reqs.length === 0) throw new Error("empty batch");
  const B = reqs.length;
  const T = Math.max(...reqs.map(framesOf));
  const semantic = new Int32Array(B * T);
  const acoustic = new Int32Array(B * T * levels).fill(maskId);
  const level = new Int32Array(B);
  const lengths = new Int32Array(B);
  reqs.forEach((r, b) => {
    const n = framesOf(r);
    if (r.tokens.length !== n * levels) throw new Error(`pass has ${r.tokens.length} cells for ${n} frames x ${levels} levels`);
    if (r.logitsFrom < 0 || r.logitsFrom > n) throw new Error(`logitsFrom ${r.logitsFrom} outside a ${n}-frame window`);
    semantic.set(r.semantic, b * T);
    acoustic.set(r.tokens, b * T * levels);
    level[b] = r.level;
    lengths[b] = n;
  });
  return {
    semantic: { data: semantic, dims: [B, T] },
    acoustic: { data: acoustic, dims: [B, T, levels] },
    level: { data: level, dims: [B] },
    lengths: { data: lengths, dims: [B] },
  };
}

/** The wanted frames of every row, one after another: [sum(frames - logitsFrom), K]. */
export function cutLogits(logits: TensorValue, reqs: readonly LogitsCut[]): Float32Array {
  const [B, T, K] = logits.dims as [number, number, number];
  if (B !== reqs.length) throw new Error(`model returned ${B} rows for ${reqs.length} windows`);
  const data = logits.data as Float32Array;
  const total = reqs.reduce((a, r) => a + (r.frames - r.logitsFrom), 0);
  const out = new Float32Array(total * K);
  let at = 0;
  reqs.forEach((r, b) => {
    const n = r.frames - r.logitsFrom;
    out.set(data.subarray((b * T + r.logitsFrom) * K, (b * T + r.frames) * K), at);
    at += n * K;
  });
  return out;
}

/** Views of each row's logits in cutLogits' output. */
export function splitLogits(cut: Float32Array, reqs: readonly LogitsCut[], K: number): Float32Array[] {
  let at = 0;
  return reqs.map((r) => {
    const n = (r.frames - r.logitsFrom) * K;
    const v = cut.subarray(at, at + n);
    at += n;
    return v;
  });
}
