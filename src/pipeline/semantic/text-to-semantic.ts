/**
 * Text-to-semantic stage (non-autoregressive, duration based): a duration graph
 * predicts how many semantic frames each phoneme lasts, the phonemes are
 * expanded to frames, and a token graph predicts the semantic unit of each
 * frame. Both are conditioned on a prompt (voice prompt and/or the previous
 * chunk of the same stream: phonemes and semantic tokens).
 */
import type { ServingManifest } from "../../models/manifest.js";
import type { GraphRunner, RunOptions } from "../../models/ort.js";
import { Rng } from "../../util/rng.js";
import { addPriorRows, weightedPrior } from "../decoding-prior.js";

export interface SemanticPrompt {
  readonly phonemes: Int32Array;
  /** At the semantic rate. */
  readonly semantic: Int32Array;
}

export interface SemanticResult {
  /** Semantic tokens at the semantic rate. */
  readonly tokens: Int32Array;
  /** Frames (semantic rate) given to each input phoneme. */
  readonly durations: Int32Array;
}

export class TextToSemantic {
  /** Per symbol id: the least frames it gets (min_frames_per_phone for phones, min_frames_per_phoneme otherwise). */
  private readonly floor: Int32Array;
  private readonly maxDur: number;
  private readonly vocab: number;
  private readonly temperature: number;
  private readonly offset: number;
  /** weight x log P(symbol | unit), [symbols, vocab] row-major; null: the graph's logits alone. */
  private readonly prior: Float32Array | null;

  constructor(private readonly durationGraph: GraphRunner, private readonly tokensGraph: GraphRunner, manifest: ServingManifest) {
    this.maxDur = manifest.text_to_semantic.max_frames_per_phoneme;
    this.vocab = manifest.semantic.vocab_size;
    this.temperature = manifest.decoding.semantic_temperature;
    this.offset = manifest.text_to_semantic.log_duration_offset ?? 0;
    const { symbols, silent_symbols: silent = symbols } = manifest.text;
    const { min_frames_per_phoneme: anyMin, min_frames_per_phone: phoneMin = 0 } = manifest.text_to_semantic;
    this.prior = weightedPrior(manifest.unitPrior, manifest.text_to_semantic.unit_prior?.weight);
    this.floor = Int32Array.from(symbols, (sym) => (silent.includes(sym) ? anyMin : Math.max(anyMin, phoneMin)));
  }

  async generate(phonemes: Int32Array, prompt: SemanticPrompt, seed: number, speed = 1, run?: RunOptions): Promise<SemanticResult> {
    if (phonemes.length === 0) throw new Error("no phonemes");
    const pp = { data: prompt.phonemes, dims: [1, prompt.phonemes.length] };
    const ps = { data: prompt.semantic, dims: [1, prompt.semantic.length] };
    const d = await this.durationGraph.run({
      phonemes: { data: phonemes, dims: [1, phonemes.length] },
      prompt_phonemes: pp,
      prompt_semantic: ps,
    }, run);
    const logd = d.log_durations.data as Float32Array;
    // cumulative rounding (as in training): the total follows the unrounded sum, so many short
    // symbols do not all round the same way; a phone rounded to nothing gets its floor (and the
    // frame is taken back from what follows, as the running total is ahead of the sum)
    const durations = new Int32Array(phonemes.length);
    let cum = 0;
    let total = 0;
    // faster speech lowers the floor too (at least one frame for a phone): a floor of 2 against ~2.1 predicted
    // frames a phone left speed > 1 with almost nothing to shorten
    const floorAt = (f: number) => (speed > 1 && f > 0 ? Math.max(1, Math.round(f / speed)) : f);
    for (let i = 0; i < phonemes.length; i++) {
      cum += Math.max(0, Math.exp(logd[i]) - this.offset) / speed;
      const frames = Math.min(this.maxDur, Math.max(floorAt(this.floor[phonemes[i]]), Math.round(cum) - total));
      durations[i] = frames;
      total += frames;
    }
    if (total === 0) { durations[durations.length - 1] = 1; total = 1; }
    const framePh = new Int32Array(total);
    const framePos = new Float32Array(total);
    for (let i = 0, t = 0; i < phonemes.length; i++) {
      for (let j = 0; j < durations[i]; j++, t++) {
        framePh[t] = phonemes[i];
        framePos[t] = (j + 0.5) / durations[i];
      }
    }
    const r = await this.tokensGraph.run({
      frame_phonemes: { data: framePh, dims: [1, total] },
      frame_position: { data: framePos, dims: [1, total] },
      prompt_phonemes: pp,
      prompt_semantic: ps,
    }, run);
    const logits = r.logits.data as Float32Array;
    const V = this.vocab;
    if (logits.length !== total * V) throw new Error(`t2s_tokens returned ${logits.length} logits, expected ${total}x${V}`);
    // favour the units that real audio of this frame's symbol mostly produces (sstrain.t2s.unit_prior)
    if (this.prior) addPriorRows(logits, this.prior, framePh, V);
    const rng = new Rng(seed);
    const tokens = new Int32Array(total);
    for (let t = 0; t < total; t++) tokens[t] = pick(logits, t * V, V, this.temperature, rng);
    return { tokens, durations };
  }
}

function pick(logits: Float32Array, base: number, V: number, temp: number, rng: Rng): number {
  let best = 0;
  let max = -Infinity;
  for (let k = 0; k < V; k++) if (logits[base + k] > max) { max = logits[base + k]; best = k; }
  if (temp <= 0) return best;
  let sum = 0;
  for (let k = 0; k < V; k++) sum += Math.exp((logits[base + k] - max) / temp);
  let u = rng.next() * sum;
  for (let k = 0; k < V; k++) {
    u -= Math.exp((logits[base + k] - max) / temp);
    if (u <= 0) return k;
  }
  return V - 1;
}
