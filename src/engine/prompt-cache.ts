/**
 * Each voice prompt's keys and values, computed once. SoundStorm was trained with the voice prompt
 * attending only to itself, so the prompt's per-layer states do not depend on the window after it:
 * the serving graph is run once on the prompt alone, and every pass of every window in that voice
 * reads its states instead of recomputing 150+ frames (most of a window's cost before).
 *
 * A prompt can have a parent: a model trained with the window's tail attending only to the voice
 * prompt and itself (manifest `soundstorm.cached_tail`) serves a window's tail as a prompt chained to
 * the voice's, its states computed once per window (after the parent's) instead of on every pass.
 */
import type { GraphSpec } from "../models/manifest.js";
import type { GraphRunner, TensorValue } from "../models/ort.js";

/** A voice prompt as the acoustic model sees it; `key` names its content (see promptKey), parents included. */
export interface PromptTokens {
  readonly key: string;
  /** The prompt these frames follow (their states are computed attending to it). */
  readonly parent?: PromptTokens;
  /** Semantic tokens at the codec frame rate, [frames]. */
  readonly semantic: Int32Array;
  /** Row-major [frames, levels]. */
  readonly acoustic: Int32Array;
}

/** Every layer's keys and values of one prompt's own frames: [layers, 1, heads, frames, headDim] each. */
export interface PromptStates {
  readonly frames: number;
  readonly k: Float32Array;
  readonly v: Float32Array;
  /** The parent prompt's states, which come first. */
  readonly parent?: PromptStates;
}

/** No prompt: what a window without one attends to. */
const NO_STATES: PromptStates = { frames: 0, k: new Float32Array(0), v: new Float32Array(0) };

/** A tail of frames served as a prompt after `parent` (see the module comment). */
export function chainPrompt(parent: PromptTokens, semantic: Int32Array, acoustic: Int32Array): PromptTokens {
  return { key: `${parent.key}>${promptKey(semantic, acoustic)}`, parent, semantic, acoustic };
}

/** Frames of a chain of states, parents included. */
function chainFrames(s: PromptStates | undefined): number {
  let n = 0;
  for (; s; s = s.parent) n += s.frames;
  return n;
}

/** A chain's parts, first (the root voice prompt) to last. */
function chainParts(s: PromptStates): PromptStates[] {
  const parts: PromptStates[] = [];
  for (let c: PromptStates | undefined = s; c; c = c.parent) parts.unshift(c);
  return parts;
}

export interface KvShape {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
}

export type PromptFeeds = Record<"prompt_k" | "prompt_v" | "prompt_lengths", TensorValue>;

/** Layers, heads and head size from the contract's prompt_k shape [layers, batch, heads, frames, headDim]. */
export function kvShape(spec: GraphSpec): KvShape {
  const s = spec.inputs.prompt_k?.shape;
  if (!s || s.length !== 5 || typeof s[0] !== "number" || typeof s[2] !== "number" || typeof s[4] !== "number") {
    throw new Error(`graph '${spec.file}': prompt_k must be [layers, batch, heads, prompt_frames, head_dim] with fixed layers, heads, head_dim`);
  }
  return { layers: s[0], heads: s[2], headDim: s[4] };
}

/** A content hash (two 32-bit FNV-1a lanes over both token arrays): equal prompts share states. */
export function promptKey(semantic: Int32Array, acoustic: Int32Array): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ semantic.length;
  const mix = (x: number) => {
    a = Math.imul(a ^ x, 0x01000193) >>> 0;
    b = Math.imul(b ^ (x + 0x9e3779b9), 0x85ebca6b) >>> 0;
  };
  for (const x of semantic) mix(x);
  mix(-1);
  for (const x of acoustic) mix(x);
  // fixed-width lanes: unpadded hex could print two different hashes as the same key
  return `${semantic.length}:${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`;
}

/** The states of a batch's prompts (chains joined) as graph inputs, right-padded to the longest (at least one frame). */
export function packPromptStates(states: readonly PromptStates[], shape: KvShape): PromptFeeds {
  const { layers: L, heads: H, headDim: D } = shape;
  const B = states.length;
  const P = Math.max(1, ...states.map(chainFrames));
  if (B === 1 && states[0].frames === P && !states[0].parent) {
    // one row (most calls on this CPU): the cached arrays already have the graph's layout
    const dims = [L, 1, H, P, D];
    return { prompt_k: { data: states[0].k, dims }, prompt_v: { data: states[0].v, dims }, prompt_lengths: { data: Int32Array.of(P), dims: [1] } };
  }
  const k = new Float32Array(L * B * H * P * D);
  const v = new Float32Array(k.length);
  const lengths = new Int32Array(B);
  states.forEach((s, b) => {
    lengths[b] = chainFrames(s);
    let at = 0;  // frames of this row's earlier parts
    for (const part of chainParts(s)) {
      const n = part.frames * D;
      for (let l = 0; l < L; l++) {
        for (let h = 0; h < H; h++) {
          const src = (l * H + h) * n;
          const dst = (((l * B + b) * H + h) * P + at) * D;
          k.set(part.k.subarray(src, src + n), dst);
          v.set(part.v.subarray(src, src + n), dst);
        }
      }
      at += part.frames;
    }
  });
  return {
    prompt_k: { data: k, dims: [L, B, H, P, D] },
    prompt_v: { data: v, dims: [L, B, H, P, D] },
    prompt_lengths: { data: lengths, dims: [B] },
  };
}

/** Joined single-row chains kept (least recently used out): a few contexts' current windows. */
const JOINED_KEPT = 8;

/** Prompt states by key, computed on first use with the serving graph itself; least recently used evicted. */
export class PromptCache {
  private readonly entries = new Map<string, Promise<PromptStates>>();
  private readonly joined = new Map<PromptStates, PromptFeeds>();
  private readonly shape: KvShape;

  /** maxEntries: voices and window tails together (a tail's own states are ~0.8 MB for 100 frames). */
  constructor(private readonly graph: GraphRunner, private readonly levels: number, private readonly maxEntries = 64) {
    this.shape = kvShape(graph.spec);
  }

  get(p: PromptTokens): Promise<PromptStates> {
    const hit = this.entries.get(p.key);
    if (hit) {
      this.entries.delete(p.key);
      this.entries.set(p.key, hit);
      return hit;
    }
    const made = this.compute(p);
    made.catch(() => this.entries.delete(p.key));
    this.entries.set(p.key, made);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return made;
  }

  /** Graph inputs for a batch whose rows have these prompts. */
  async feeds(prompts: readonly PromptTokens[]): Promise<PromptFeeds> {
    const states = await Promise.all(prompts.map((p) => this.get(p)));
    if (states.length !== 1 || !states[0].parent) return packPromptStates(states, this.shape);
    // one row with a chained prompt (a voice and a window's tail): every pass of the window reads the same
    // joined states, so they are joined once (copying them on each pass cost ~2 % of it)
    const s = states[0];
    let f = this.joined.get(s);
    if (f) this.joined.delete(s);
    else f = packPromptStates(states, this.shape);
    this.joined.set(s, f);
    while (this.joined.size > JOINED_KEPT) this.joined.delete(this.joined.keys().next().value!);
    return f;
  }

  get size(): number {
    return this.entries.size;
  }

  private async compute(p: PromptTokens): Promise<PromptStates> {
    const P = p.semantic.length;
    if (p.acoustic.length !== P * this.levels) throw new Error(`voice prompt has ${p.acoustic.length} cells for ${P} frames x ${this.levels} levels`);
    const parent = p.parent ? await this.get(p.parent) : undefined;
    if (P === 0) return parent ?? NO_STATES;
    // the prompt as the window, after its parent (or an empty prompt): its own k and v are what later windows attend to
    const out = await this.graph.run({
      semantic: { data: p.semantic, dims: [1, P] },
      acoustic: { data: p.acoustic, dims: [1, P, this.levels] },
      level: { data: new Int32Array(1), dims: [1] },
      lengths: { data: Int32Array.of(P), dims: [1] },
      ...packPromptStates([parent ?? NO_STATES], this.shape),
    });
    const k = out.k, v = out.v;
    if (!k || !v) throw new Error(`graph '${this.graph.name}' returned no k/v outputs`);
    const want = [this.shape.layers, 1, this.shape.heads, P, this.shape.headDim];
    if (JSON.stringify(k.dims) !== JSON.stringify(want)) throw new Error(`prompt k has dims [${k.dims}], expected [${want}]`);
    return { frames: P, k: Float32Array.from(k.data as Float32Array), v: Float32Array.from(v.data as Float32Array), ...(parent ? { parent } : {}) };
  }
}
