/**
 * Decodes a growing stream of RVQ codes to PCM chunk by chunk with no seams.
 *
 * The decoder's receptive field is bounded (left/right context frames, from the
 * manifest), so audio of frame f is exact once codes up to f+R are known. Each
 * push decodes [emitted - L, known) and emits frames [emitted, known - R);
 * the last R frames wait for the next push or for flush(). Chunked output
 * therefore equals whole-utterance decoding.
 */
import type { Manifest } from "../../models/manifest.js";
import type { GraphRunner, RunOptions } from "../../models/ort.js";

export class CodecStreamDecoder {
  private readonly levels: number;
  private readonly hop: number;
  private readonly left: number;
  private readonly right: number;
  /** Codes kept for context, row-major [frames, levels]; frame 0 of it is absolute frame `base`. */
  private codes: Int32Array = new Int32Array(0);
  private base = 0;
  private known = 0;
  private emitted = 0;

  constructor(private readonly graph: GraphRunner, manifest: Pick<Manifest, "codec" | "audio">) {
    this.levels = manifest.codec.levels;
    this.hop = manifest.audio.hop_length;
    this.left = manifest.codec.decoder_left_context_frames;
    this.right = manifest.codec.decoder_right_context_frames;
  }

  /** Frames whose audio has been returned so far. */
  get emittedFrames(): number {
    return this.emitted;
  }

  /** Add codes ([frames, levels] row-major) and return the PCM that is now final. */
  async push(newCodes: Int32Array, run?: RunOptions): Promise<Float32Array> {
    if (newCodes.length % this.levels !== 0) throw new Error(`codes length ${newCodes.length} is not a multiple of ${this.levels}`);
    const merged = new Int32Array(this.codes.length + newCodes.length);
    merged.set(this.codes);
    merged.set(newCodes, this.codes.length);
    this.codes = merged;
    this.known += newCodes.length / this.levels;
    return this.decodeUpTo(Math.max(this.emitted, this.known - this.right), run);
  }

  /** Return the held-back frames (decoded without right context). */
  async flush(run?: RunOptions): Promise<Float32Array> {
    return this.decodeUpTo(this.known, run);
  }

  private async decodeUpTo(end: number, run?: RunOptions): Promise<Float32Array> {
    if (end <= this.emitted) return new Float32Array(0);
    const Q = this.levels;
    const start = Math.max(this.base, this.emitted - this.left);
    const stop = Math.min(this.known, end + this.right);
    const T = stop - start;
    // [frames, levels] -> [1, levels, frames]
    const input = new Int32Array(Q * T);
    for (let t = 0; t < T; t++) {
      const row = (start - this.base + t) * Q;
      for (let q = 0; q < Q; q++) input[q * T + t] = this.codes[row + q];
    }
    const out = await this.graph.run({ codes: { data: input, dims: [1, Q, T] } }, run);
    const audio = out.audio.data as Float32Array;
    if (audio.length !== T * this.hop) throw new Error(`codec decoder returned ${audio.length} samples for ${T} frames (hop ${this.hop})`);
    const pcm = audio.slice((this.emitted - start) * this.hop, (end - start) * this.hop);
    this.emitted = end;
    // keep only the left context the next call needs
    const keepFrom = Math.max(this.base, this.emitted - this.left);
    this.codes = this.codes.slice((keepFrom - this.base) * Q);
    this.base = keepFrom;
    return pcm;
  }
}
