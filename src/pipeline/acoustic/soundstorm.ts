/**
 * The SoundStorm stage: given semantic tokens (at the codec frame rate) for new
 * frames and a prompt (voice prompt + tail of what this stream already said),
 * fills the new frames' RVQ tokens with MaskGIT decoding on the ONNX model.
 */
import type { ServingManifest } from "../../models/manifest.js";
import type { Graph } from "../../models/ort.js";
import { Rng } from "../../util/rng.js";
import { decodeMaskGit, type MaskGitOptions, type TokenGrid } from "./maskgit.js";

export interface AcousticRequest {
  /** Prompt semantic tokens at frame rate, [promptFrames]. */
  readonly promptSemantic: Int32Array;
  /** Prompt acoustic tokens, row-major [promptFrames, levels]. */
  readonly promptAcoustic: Int32Array;
  /** Semantic tokens of the frames to generate, at frame rate. */
  readonly semantic: Int32Array;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Overrides of the manifest's decoding defaults (e.g. fewer level-1 iterations for a fast first chunk). */
  readonly schedule?: readonly number[];
  /** Greedy decoding (temperature 0, no noise): deterministic, the mode the Python reference decoder matches. */
  readonly greedy?: boolean;
}

export interface AcousticResult {
  /** Row-major [frames, levels] for the new frames only. */
  readonly acoustic: Int32Array;
  readonly passes: number;
}

export class AcousticGenerator {
  readonly levels: number;
  readonly maxWindowFrames: number;
  private readonly defaults: MaskGitOptions;

  constructor(private readonly graph: Graph, manifest: ServingManifest) {
    this.levels = manifest.codec.levels;
    this.maxWindowFrames = manifest.soundstorm.max_window_frames;
    const d = manifest.decoding;
    this.defaults = {
      schedule: d.schedule, codebookSize: manifest.codec.codebook_size, maskId: manifest.soundstorm.mask_id,
      temperatureStart: d.temperature_start, temperatureEnd: d.temperature_end, noiseScale: d.noise_scale,
    };
  }

  async generate(req: AcousticRequest): Promise<AcousticResult> {
    const Q = this.levels;
    const p = req.promptSemantic.length;
    const n = req.semantic.length;
    const T = p + n;
    if (req.promptAcoustic.length !== p * Q) throw new Error(`prompt acoustic has ${req.promptAcoustic.length} cells for ${p} frames x ${Q} levels`);
    if (T > this.maxWindowFrames) throw new Error(`window of ${T} frames exceeds the model's ${this.maxWindowFrames}`);
    const semantic = new Int32Array(T);
    semantic.set(req.promptSemantic, 0);
    semantic.set(req.semantic, p);
    const tokens = new Int32Array(T * Q).fill(this.defaults.maskId);
    tokens.set(req.promptAcoustic, 0);
    const grid: TokenGrid = { frames: T, levels: Q, tokens };
    const semBig = BigInt64Array.from(semantic, (v) => BigInt(v));
    const opts = {
      ...this.defaults,
      ...(req.schedule ? { schedule: req.schedule } : {}),
      ...(req.greedy ? { temperatureStart: 0, temperatureEnd: 0, noiseScale: 0 } : {}),
    };
    const trace = await decodeMaskGit(grid, opts, async (level, g) => {
      const out = await this.graph.run({
        semantic: { data: semBig, dims: [1, T] },
        acoustic: { data: g.tokens, dims: [1, T, Q] },
        level: { data: BigInt64Array.of(BigInt(level)), dims: [1] },
      });
      return out.logits.data as Float32Array;
    }, new Rng(req.seed), req.signal);
    return { acoustic: tokens.slice(p * Q), passes: trace.passes };
  }
}
