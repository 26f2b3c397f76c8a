/**
 * The SoundStorm stage: given semantic tokens (at the codec frame rate) for new
 * frames, a voice prompt and the tail of what this stream already said, fills the
 * new frames' RVQ tokens with MaskGIT decoding on the ONNX model. The window the
 * model sees is [tail + new frames]; the voice prompt enters as cached states, and
 * so does the tail when the model was trained for it (`soundstorm.cached_tail`):
 * then every pass runs on the new frames and the tail's last few (its overlap).
 */
import { cutLogits, cutOf, packPasses, splitLogits, type PassRequest } from "../../engine/batch.js";
import { chainPrompt, PromptCache, type PromptTokens } from "../../engine/prompt-cache.js";
import type { ServingManifest } from "../../models/manifest.js";
import type { GraphRunner, RunOptions } from "../../models/ort.js";
import { Rng } from "../../util/rng.js";
import { addPriorRows, weightedPrior } from "../decoding-prior.js";
import { unitsOf } from "./conditioning.js";
import { decodeMaskGit, type MaskGitOptions, type TokenGrid } from "./maskgit.js";

/** Runs one pass of one window; returns logits [(frames - logitsFrom), codebook]. The inference
 * pool's runner batches concurrent passes of many windows into one model call. */
export type PassRunner = (req: PassRequest, opts?: RunOptions) => Promise<Float32Array>;

/** A runner that calls the graph itself, with its own prompt cache: CLI tools, evals, tests. Passes asked for in
 * the same turn with the same options (a guided pass and its unconditional twin) share one model call; any
 * other pass runs alone (batch of one). */
export function directPassRunner(graph: GraphRunner, manifest: ServingManifest): PassRunner {
  const Q = manifest.codec.levels;
  const mask = manifest.soundstorm.mask_id;
  const K = manifest.codec.codebook_size;
  const prompts = new PromptCache(graph, Q);
  interface Waiting { req: PassRequest; resolve: (l: Float32Array) => void; reject: (e: unknown) => void }
  const turns = new Map<RunOptions | undefined, Waiting[]>();
  const flush = async (opts: RunOptions | undefined, batch: Waiting[]) => {
    try {
      const reqs = batch.map((w) => w.req);
      const out = await graph.run({ ...packPasses(reqs, Q, mask), ...(await prompts.feeds(reqs.map((r) => r.prompt))) }, opts);
      const cuts = reqs.map(cutOf);
      splitLogits(cutLogits(out.logits!, cuts), cuts, K).forEach((l, i) => batch[i].resolve(l));
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  };
  return (req, opts) => new Promise<Float32Array>((resolve, reject) => {
    let batch = turns.get(opts);
    if (!batch) {
      batch = [];
      turns.set(opts, batch);
      const mine = batch;
      queueMicrotask(() => { turns.delete(opts); void flush(opts, mine); });
    }
    batch.push({ req, resolve, reject });
  });
}

export interface AcousticRequest {
  /** The voice prompt (see promptTokensOf). */
  readonly voice: PromptTokens;
  /** Tail of this stream's committed frames: semantic at frame rate [tailFrames]... */
  readonly tailSemantic: Int32Array;
  /** ...and acoustic, row-major [tailFrames, levels]. */
  readonly tailAcoustic: Int32Array;
  /** Semantic tokens of the frames to generate, at frame rate. */
  readonly semantic: Int32Array;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Overrides of the manifest's decoding defaults (e.g. fewer level-1 iterations for a fast first chunk). */
  readonly schedule?: readonly number[];
  /** Greedy decoding (temperature 0, no noise): deterministic, the mode the Python reference decoder matches. */
  readonly greedy?: boolean;
  /** Scheduling priority of every pass (see RunOptions). */
  readonly priority?: number;
  /** Work the server may skip while it is behind, asked just before the work (absent: nothing is skipped). */
  readonly shedding?: LoadShedding;
}

/** Questions a window's decoding asks before work it can do without. Each is asked again before the next such
 * piece of work, so a stream gets its full decoding back as soon as the server catches up. */
export interface LoadShedding {
  /** Before each guided pass: true runs the conditioned pass alone, without its unconditional twin (half the work
   * of that level, unguided; config inference.shedGuidanceQueued). */
  readonly guidance?: () => boolean;
  /** Before each level of a window that has cells to fill (0 = coarsest): true leaves it and every finer level
   * ungenerated (the mask id, which reaches the codec decoder as its absent code; config inference.shedLevelsQueued). */
  readonly level?: (level: number) => boolean;
}

export interface AcousticResult {
  /** Row-major [frames, levels] for the new frames only; levels past generatedLevels, and shed ones, hold the mask id. */
  readonly acoustic: Int32Array;
  /** Model passes run; a guided pass counts two (conditioned and unconditioned). */
  readonly passes: number;
  /** Passes the manifest guides that ran without their twin (shedding.guidance). */
  readonly shedPasses: number;
  /** Levels this window would have generated but left at the mask id (shedding.level). */
  readonly shedLevels: number;
}

export interface AcousticOptions {
  /** Levels to generate, coarse to fine (the rest stay at the mask id); 0 or absent: all. */
  readonly generatedLevels?: number;
}

export class AcousticGenerator {
  readonly levels: number;
  /** Levels each window fills (coarse to fine); cells of the finer ones keep the mask id. */
  readonly generatedLevels: number;
  readonly maxWindowFrames: number;
  /** Tail frames served as cached states (all but the overlap), or none. */
  private readonly cachedTail: boolean;
  private readonly tailOverlap: number;
  private readonly tailOverlapFraction: number;
  private readonly defaults: MaskGitOptions;
  /** weight x log P(unit | level-1 code), [vocab, codebook] row-major; null: the model's logits alone. */
  private readonly level1Prior: Float32Array | null;
  /** Guidance by the units (decoding.semantic_guidance), or null. */
  private readonly guidance: { readonly weights: readonly number[]; readonly nullId: number } | null;

  /** Whether any generated level runs guided passes (so there is something to shed). */
  get guided(): boolean {
    return this.guidance !== null && this.guidance.weights.some((w, q) => w > 0 && q < this.generatedLevels);
  }

  constructor(private readonly pass: PassRunner, private readonly manifest: ServingManifest, o: AcousticOptions = {}) {
    this.levels = manifest.codec.levels;
    const g = o.generatedLevels ?? 0;
    if (!Number.isInteger(g) || g < 0) throw new Error(`generatedLevels must be an integer >= 0, got ${g}`);
    this.generatedLevels = g === 0 ? this.levels : Math.min(g, this.levels);
    this.maxWindowFrames = manifest.soundstorm.max_window_frames;
    this.cachedTail = manifest.soundstorm.cached_tail === true;
    this.tailOverlap = manifest.soundstorm.tail_overlap_frames ?? 0;
    this.tailOverlapFraction = manifest.soundstorm.tail_overlap_fraction ?? 0;
    this.level1Prior = weightedPrior(manifest.level1Prior, manifest.soundstorm.level1_prior?.weight);
    const sg = manifest.decoding.semantic_guidance;
    const nullId = manifest.soundstorm.null_semantic_id;
    const weights = sg ? guidanceWeights(sg, this.levels) : [];
    this.guidance = weights.some((w) => w > 0) && nullId !== undefined ? { weights, nullId } : null;
    const d = manifest.decoding;
    this.defaults = {
      schedule: d.schedule, codebookSize: manifest.codec.codebook_size, maskId: manifest.soundstorm.mask_id,
      temperatureStart: d.temperature_start, temperatureEnd: d.temperature_end, noiseScale: d.noise_scale,
    };
  }

  async generate(req: AcousticRequest): Promise<AcousticResult> {
    const Q = this.levels;
    const p = req.tailSemantic.length;
    const n = req.semantic.length;
    const T = p + n;
    if (req.tailAcoustic.length !== p * Q) throw new Error(`tail acoustic has ${req.tailAcoustic.length} cells for ${p} frames x ${Q} levels`);
    // positions run on from the voice prompt's: the whole must stay within the lengths trained on
    const total = req.voice.semantic.length + T;
    if (total > this.maxWindowFrames) throw new Error(`voice prompt + window of ${total} frames exceeds the model's ${this.maxWindowFrames}`);
    // a cached tail (but its overlap) joins the prompt; the rest leads the window, unmasked, and every pass pays for it
    const overlap = Math.max(this.tailOverlap, Math.round(this.tailOverlapFraction * n));
    const cached = this.cachedTail ? Math.max(0, p - overlap) : 0;
    const inWindow = p - cached;
    const prompt = cached > 0 ? chainPrompt(req.voice, req.tailSemantic.slice(0, cached), req.tailAcoustic.slice(0, cached * Q)) : req.voice;
    const W = inWindow + n;
    const semantic = new Int32Array(W);
    semantic.set(req.tailSemantic.subarray(cached), 0);
    semantic.set(req.semantic, inWindow);
    const tokens = new Int32Array(W * Q).fill(this.defaults.maskId);
    tokens.set(req.tailAcoustic.subarray(cached * Q), 0);
    const grid: TokenGrid = { frames: W, levels: Q, tokens, logitsFrom: inWindow };
    const schedule = (req.schedule ?? this.defaults.schedule).map((steps, q) => (q < this.generatedLevels ? steps : 0));
    const shedLevel = req.shedding?.level;
    const opts: MaskGitOptions = {
      ...this.defaults,
      schedule,
      ...(shedLevel ? { stopBefore: shedLevel } : {}),
      ...(req.greedy ? { temperatureStart: 0, temperatureEnd: 0, noiseScale: 0 } : {}),
    };
    const runOpts: RunOptions = { ...(req.priority !== undefined ? { priority: req.priority } : {}), ...(req.signal ? { signal: req.signal } : {}) };
    const prior = this.level1Prior;
    const newUnits = prior ? unitsOf(this.manifest, semantic.subarray(inWindow)) : semantic.subarray(inWindow);
    const guide = this.guidance;
    // the unconditional pass's units: the new frames' are "none"; the prompt's and tail's stay, as trained
    const unguided = guide ? Int32Array.from(semantic).fill(guide.nullId, inWindow) : semantic;
    let extraPasses = 0;
    let shedPasses = 0;
    const trace = await decodeMaskGit(grid, opts, async (level, g) => {
      const cond = { prompt, semantic, tokens: g.tokens, level, logitsFrom: inWindow };
      let logits: Float32Array;
      const w = guide?.weights[level] ?? 0;
      const shed = guide !== null && w > 0 && req.shedding?.guidance?.() === true;
      if (shed) shedPasses++;
      if (guide && w > 0 && !shed) {
        // both passes go out together, so the inference pool batches them into one model call
        const [c, u] = await Promise.all([this.pass(cond, runOpts), this.pass({ ...cond, semantic: unguided }, runOpts)]);
        guideLogits(c, u, w);
        logits = c;
        extraPasses++;
      } else {
        logits = await this.pass(cond, runOpts);
      }
      // level 1 leans to the codes real audio of each frame's unit mostly carries (sstrain.soundstorm.level1_prior)
      if (level === 0 && prior) addPriorRows(logits, prior, newUnits, this.defaults.codebookSize);
      return logits;
    }, new Rng(req.seed), req.signal);
    return { acoustic: tokens.slice(inWindow * Q), passes: trace.passes + extraPasses, shedPasses, shedLevels: trace.stoppedLevels };
  }
}

/** Each level's guidance weight (0: unguided) from decoding.semantic_guidance. */
export function guidanceWeights(sg: NonNullable<ServingManifest["decoding"]["semantic_guidance"]>, levels: number): number[] {
  return Array.from({ length: levels }, (_, q) => (q < sg.levels ? (sg.level_weights?.[q] ?? sg.weight) : 0));
}

/** Classifier-free guidance in place: cond += weight x (cond - uncond). */
export function guideLogits(cond: Float32Array, uncond: Float32Array, weight: number): void {
  if (cond.length !== uncond.length) throw new Error(`guidance: ${cond.length} conditioned logits against ${uncond.length} unconditioned`);
  for (let i = 0; i < cond.length; i++) cond[i] += weight * (cond[i] - uncond[i]);
}
