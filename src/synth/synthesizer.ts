/**
 * Composes the stages for one stream of speech:
 *   text -> phonemes -> semantic tokens -> RVQ acoustic tokens -> PCM
 * A Synthesizer owns the shared stage objects (one per process); each context
 * opens a SpeechStream holding only its own state (previous chunk, acoustic
 * tail, codec decoder position).
 */
import { servingManifest, type GraphName, type Manifest, type ServingManifest, type VoicePrompt } from "../models/manifest.js";
import type { ModelSet } from "../models/model-set.js";
import type { GraphRunner, RunOptions } from "../models/ort.js";
import { AcousticGenerator, directPassRunner, type LoadShedding, type PassRunner } from "../pipeline/acoustic/soundstorm.js";
import { CodecStreamDecoder } from "../pipeline/codec/stream-decoder.js";
import { Phonemizer } from "../pipeline/phonemes/g2p.js";
import { TextToSemantic, type SemanticResult } from "../pipeline/semantic/text-to-semantic.js";
import { isSpeakable, normalizeText } from "../pipeline/text/normalize.js";
import { alignWords, spokenGroups, writtenWords, type WordTime } from "../pipeline/text/word-timing.js";
import type { PromptTokens } from "../engine/prompt-cache.js";
import { conditioningIds } from "../pipeline/acoustic/conditioning.js";
import { concatI32, generateInWindows, promptTokensOf, repeatTokens, type WindowTail } from "./windows.js";

export interface StageTimes {
  g2p_ms: number;
  t2s_ms: number;
  soundstorm_ms: number;
  codec_ms: number;
}

/** Receives a chunk's results as soon as each exists (words after text-to-semantic, PCM window by window). */
export interface ChunkSink {
  words?(words: WordTime[]): void;
  pcm?(pcm: Float32Array): void;
}

/** How a chunk is synthesized, beyond its text. */
export interface SynthesisOptions {
  readonly signal?: AbortSignal;
  /** > 1 speaks faster (durations scaled). */
  readonly speed?: number;
  /** Orders this chunk's model calls among all contexts' (lower first; the server passes deadlines). */
  readonly priority?: number;
  /** At the stream's start, cut the first SoundStorm window to this many frames: its audio exists
   * after a fraction of the chunk's passes (time to first audio), the rest follows in the next window. */
  readonly firstWindowFrames?: number;
  /** Cut this chunk's first window to firstWindowFrames mid-stream too: the listener is about to run out. */
  readonly urgent?: boolean;
  /** Decode with the model's fast schedule (decoding.fast_schedule) if it has one. */
  readonly fast?: boolean;
  readonly sink?: ChunkSink;
  /** The text goes on past this chunk mid-phrase (a deadline cut): leave its last word unspoken and hold its semantic
   * tokens. The next chunk, which must then start with that word (`resumesHeld`), says it again knowing the words
   * after it; `releaseHeld` speaks it as it was made instead. Ignored for a chunk of one word. */
  readonly holdLastWord?: boolean;
  /** This text starts with the word held back from the previous chunk: the held tokens are dropped. */
  readonly resumesHeld?: boolean;
}

export interface ChunkAudio {
  /** PCM that is final now (the codec may hold back a few frames until the next chunk or flush()). */
  readonly pcm: Float32Array;
  /** Codec frames generated for this chunk. */
  readonly frames: number;
  readonly phonemes: number;
  readonly passes: number;
  /** Guided SoundStorm passes that ran without their unconditional twin (load shedding). */
  readonly shedPasses: number;
  /** RVQ levels left ungenerated, summed over the chunk's SoundStorm windows (load shedding). */
  readonly shedLevels: number;
  readonly stages: StageTimes;
  /** Word timestamps relative to this chunk's first frame and text. */
  readonly words: WordTime[];
  /** With holdLastWord: where in the chunk's text the word held back (not in this audio) starts. */
  readonly heldFrom?: number;
}

/** Where a chunk's last word starts: in its text, its symbols and its semantic frames. */
interface WordSplit {
  readonly textAt: number;
  readonly symbol: number;
  readonly frames: number;
}

/** A chunk's last word, made by text to semantic but not yet spoken (SynthesisOptions.holdLastWord). */
interface HeldWord {
  readonly text: string;
  readonly ids: Int32Array;
  readonly sem: SemanticResult;
  readonly speed: number;
  readonly seed: number;
}

/** Where a voice comes from: the model's manifest, or cloned at run time (POST /v1/voices). */
export type VoiceSource = "builtin" | "cloned";

export interface VoiceInfo {
  readonly name: string;
  readonly description: string;
  readonly source: VoiceSource;
  /** Codec frames of the prompt. */
  readonly frames: number;
  /** Whether the prompt has phonemes (cloned voices made without a transcript have none). */
  readonly hasPhonemes: boolean;
}

interface VoiceEntry {
  readonly prompt: VoicePrompt;
  /** The prompt's phonemes as symbol ids. */
  readonly phonemes: Int32Array;
  readonly source: VoiceSource;
  /** The built-in voice whose codec decoder this voice's streams use (its own name for a built-in voice);
   * undefined: the shared decoder. */
  readonly decoderOf?: string;
}

/** Where the stages' model calls run: in this thread (CLI tools, evals) or on the inference pool (the server). */
export interface InferenceBackend {
  readonly manifest: Manifest;
  /** `voice`: the voice's own variant of the graph where the model has one (a voice's codec decoder). */
  graph(name: GraphName, voice?: string): GraphRunner;
  readonly passRunner: PassRunner;
  /** Jobs waiting for a worker (the inference pool's queue: each row and each half of a guided pair counts); absent
   * where calls run in this thread. */
  readonly queued?: () => number;
}

/** Every call in this thread, one SoundStorm pass per model call. */
export function localBackend(models: ModelSet): InferenceBackend {
  return {
    manifest: models.manifest,
    graph: (name, voice) => models.graphFor(name, voice),
    passRunner: directPassRunner(models.graphs.soundstorm, servingManifest(models.manifest)),
  };
}

export interface SynthesizerOptions {
  /** RVQ levels SoundStorm generates (config inference.acousticLevels); 0 or absent: all. */
  readonly acousticLevels?: number;
  /** Guided passes skip their unconditional twin while at least this many jobs wait for a worker (config
   * inference.shedGuidanceQueued); 0 or absent: never. Needs a backend that reports its queue. */
  readonly shedGuidanceQueued?: number;
  /** A window's levels past the coarsest shedLevelsKeep are left ungenerated while at least this many jobs wait for
   * a worker (config inference.shedLevelsQueued); 0 or absent: never. Needs a backend that reports its queue and a
   * model whose codec decoder has an absent code. */
  readonly shedLevelsQueued?: number;
  /** Levels always generated when levels are shed (config inference.shedLevelsKeep). */
  readonly shedLevelsKeep?: number;
  /** Called once for every guided pass shed, by any stream (the server counts them, cancelled chunks included). */
  readonly onShed?: () => void;
  /** Called with the number of levels each time a window leaves finer levels ungenerated, by any stream (cancelled
   * chunks included, so the server's counter may exceed the sum of chunk_metrics.levels_shed). */
  readonly onShedLevels?: (levels: number) => void;
}

/**
 * The load-shedding questions streams ask (see SynthesizerOptions), or undefined when nothing can be shed: no queue to
 * read, no guided level (guidance), no absent code in the codec decoder or no level past those kept (levels); and a
 * line saying which step is on and why not, for the server's boot log.
 */
function loadShedding(queued: (() => number) | undefined, acoustic: AcousticGenerator, m: ServingManifest, o: SynthesizerOptions):
  { shedding: LoadShedding | undefined; summary: string } {
  const guideAt = o.shedGuidanceQueued ?? 0;
  const levelsAt = o.shedLevelsQueued ?? 0;
  const keep = Math.max(1, o.shedLevelsKeep ?? 4);
  const generated = acoustic.generatedLevels;
  const noQueue = "off (calls run in this thread: no queue)";
  const guideOff = !queued ? noQueue : guideAt <= 0 ? "off" : !acoustic.guided ? "off (the model guides no level)" : null;
  const levelsOff = !queued ? noQueue : levelsAt <= 0 ? "off"
    : m.codec.absent_code === undefined ? "off (the codec decoder has no absent code: it needs every level)"
      : keep >= generated ? `off (all ${generated} levels generated are kept)` : null;
  const summary = `guidance ${guideOff ?? `shed at ${guideAt} queued jobs`}; levels ${levelsOff ?? `past the coarsest ${keep} shed at ${levelsAt} queued jobs`}`;
  if (!queued || (guideOff && levelsOff)) return { shedding: undefined, summary };
  const { onShed, onShedLevels } = o;
  return {
    summary,
    shedding: {
      // asked only before a guided pass, which is shed exactly when this says yes: so it counts the passes shed
      ...(guideOff ? {} : { guidance: () => { const shed = queued() >= guideAt; if (shed) onShed?.(); return shed; } }),
      // asked before each level with work; a yes ends the window's decoding there, so it counts the levels left out
      ...(levelsOff ? {} : { level: (q: number) => { const shed = q >= keep && queued() >= levelsAt; if (shed) onShedLevels?.(generated - q); return shed; } }),
    },
  };
}

export class Synthesizer {
  readonly manifest: ServingManifest;
  readonly phonemizer: Phonemizer;
  private readonly t2s: TextToSemantic;
  private readonly acoustic: AcousticGenerator;
  /** What streams skip while the backend is behind (guided passes' twins at shedGuidanceQueued jobs waiting,
   * finer levels at shedLevelsQueued); undefined when nothing is ever shed. */
  readonly shedding: LoadShedding | undefined;
  /** Which load-shedding steps are on, and why a configured one is not (one line, for the boot log). */
  readonly sheddingSummary: string;
  /** The voices this instance serves: the manifest's, then any added at run time (insertion order). */
  private readonly registry = new Map<string, VoiceEntry>();

  constructor(private readonly backend: InferenceBackend, o: SynthesizerOptions = {}) {
    const m = (this.manifest = servingManifest(backend.manifest));
    this.phonemizer = new Phonemizer(m);
    this.t2s = new TextToSemantic(backend.graph("t2s_duration"), backend.graph("t2s_tokens"), m);
    this.acoustic = new AcousticGenerator(backend.passRunner, m, { generatedLevels: o.acousticLevels ?? 0 });
    ({ shedding: this.shedding, summary: this.sheddingSummary } = loadShedding(backend.queued, this.acoustic, m, o));
    const levels = this.acoustic.generatedLevels;
    if (levels < m.codec.levels && m.codec.absent_code === undefined) {
      throw new Error(`acoustic levels ${levels} of ${m.codec.levels}: model '${m.name}' has no codec.absent_code, so its decoder needs every level`);
    }
    for (const [name, v] of m.voicePrompts) {
      // the model's own voices meet the rules cloned ones do (a prompt and tail filling the window failed
      // only once a long chunk came, after audio had gone out)
      const bad = this.checkPrompt(v);
      if (bad) throw new Error(`model '${m.name}', voice '${name}': ${bad}`);
      this.registry.set(name, { prompt: v, phonemes: this.phonemizer.encode(v.phonemes), source: "builtin", decoderOf: name });
    }
  }

  get voices(): string[] {
    return [...this.registry.keys()];
  }

  hasVoice(name: string): boolean {
    return this.registry.has(name);
  }

  voiceInfo(): VoiceInfo[] {
    return [...this.registry.values()].map(({ prompt: p, source }) => ({
      name: p.name, description: p.description, source, frames: p.frames, hasPhonemes: p.phonemes.length > 0,
    }));
  }

  /** Why this prompt cannot be served by this model, or null when it can. */
  checkPrompt(p: VoicePrompt): string | null {
    const m = this.manifest;
    const Q = m.codec.levels;
    if (p.frames <= 0 || p.frames % m.semantic.repeat !== 0) return `${p.frames} frames is not a positive multiple of ${m.semantic.repeat}`;
    if (p.semantic.length * m.semantic.repeat !== p.frames) return `${p.semantic.length} semantic tokens do not cover ${p.frames} frames`;
    if (p.acoustic.length !== p.frames * Q) return `acoustic has ${p.acoustic.length} codes for ${p.frames} frames x ${Q} levels`;
    if (p.acoustic.some((c) => c < 0 || c >= m.codec.codebook_size)) return "acoustic code out of range";
    if (p.semantic.some((s) => s < 0 || s >= m.semantic.vocab_size)) return "semantic token out of range";
    // the prompt, the stream's tail and at least as many new frames must fit in one SoundStorm window
    const room = m.soundstorm.max_window_frames - m.soundstorm.tail_frames - p.frames;
    if (room < p.frames) return `a ${p.frames}-frame prompt leaves only ${room} frames per SoundStorm window`;
    return null;
  }

  /**
   * Serve a voice made at run time (a cloned voice) under `prompt.name`, from the next stream on;
   * streams already open keep the prompt they started with. Throws if the name is taken or the
   * prompt does not fit this model. `decoderOf`: decode its streams with that built-in voice's codec
   * decoder (a candidate prompt for that voice, scored as it would be served); default the shared one.
   */
  addVoice(prompt: VoicePrompt, o: { decoderOf?: string } = {}): void {
    if (this.registry.has(prompt.name)) throw new Error(`voice '${prompt.name}' already exists`);
    const bad = this.checkPrompt(prompt);
    if (bad) throw new Error(`voice '${prompt.name}': ${bad}`);
    if (o.decoderOf !== undefined && this.registry.get(o.decoderOf)?.source !== "builtin") {
      throw new Error(`voice '${prompt.name}': decoderOf '${o.decoderOf}' is not a built-in voice`);
    }
    this.registry.set(prompt.name, {
      prompt, phonemes: this.phonemizer.encode(prompt.phonemes), source: "cloned",
      ...(o.decoderOf !== undefined ? { decoderOf: o.decoderOf } : {}),
    });
  }

  /** Stop serving a voice added with addVoice (open streams finish with it). False if there is no such cloned voice. */
  removeVoice(name: string): boolean {
    const e = this.registry.get(name);
    if (!e || e.source !== "cloned") return false;
    return this.registry.delete(name);
  }

  voiceSource(name: string): VoiceSource | null {
    return this.registry.get(name)?.source ?? null;
  }

  openStream(voice: string, seed: number): SpeechStream {
    const e = this.registry.get(voice);
    if (!e) throw new Error(`unknown voice ${voice}`);
    // a built-in voice decodes with its own codec decoder where the model has one; a cloned voice, whatever its
    // name, with the shared one (or the one of the built-in voice it was added to stand in for)
    const decoder = this.backend.graph("codec_decoder", e.decoderOf);
    return new SpeechStream(this.manifest, this.phonemizer, this.t2s, this.acoustic, e.prompt, e.phonemes, seed,
      new CodecStreamDecoder(decoder, this.manifest), this.shedding);
  }
}


const noStageTimes = (): StageTimes => ({ g2p_ms: 0, t2s_ms: 0, soundstorm_ms: 0, codec_ms: 0 });

/** A chunk's model-call options: its scheduling priority and cancellation. */
const runOptionsOf = ({ priority, signal }: SynthesisOptions): RunOptions =>
  ({ ...(priority !== undefined ? { priority } : {}), ...(signal ? { signal } : {}) });

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export class SpeechStream {
  private readonly repeat: number;
  /** The voice as SoundStorm's prompt (frame-rate semantic tokens, content key for its cached states). */
  private readonly voicePrompt: PromptTokens;
  /** The voice's semantic tokens given to text-to-semantic (empty when the voice has no phonemes). */
  private readonly t2sVoiceSemantic: Int32Array;
  /** The stream's last context_phonemes symbols so far, their semantic frames and durations: text to semantic's context. */
  private prevPhonemes = new Int32Array(0);
  private prevSemantic = new Int32Array(0);
  private prevDurations = new Int32Array(0);
  /** The speed prevSemantic was made at. */
  private prevSpeed = 1;
  /** Tail of committed frames (frame-rate semantic and acoustic), for acoustic conditioning. */
  private readonly tail: WindowTail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  private chunkSeed: number;
  private held: HeldWord | null = null;

  constructor(
    private readonly manifest: ServingManifest,
    private readonly phonemizer: Phonemizer,
    private readonly t2s: TextToSemantic,
    private readonly acoustic: AcousticGenerator,
    private readonly voice: VoicePrompt,
    private readonly voicePhonemes: Int32Array,
    seed: number,
    private readonly codec: CodecStreamDecoder,
    /** The synthesizer's load-shedding questions (Synthesizer.shedding), asked before the work they may skip. */
    private readonly shedding?: LoadShedding,
  ) {
    this.repeat = manifest.semantic.repeat;
    this.voicePrompt = promptTokensOf(voice, this.repeat);
    // a voice cloned without a transcript has no phonemes: text-to-semantic then gets no voice prompt
    // at all rather than frames without their phonemes (half a pair would mislead the duration model,
    // which reads the speaking rate from frames per prompt phoneme); SoundStorm still gets the voice
    this.t2sVoiceSemantic = voicePhonemes.length > 0 ? voice.semantic : new Int32Array(0);
    this.chunkSeed = seed >>> 0;
  }

  /** Synthesize one chunk of text; null when it has nothing speakable. */
  async synthesize(text: string, o: SynthesisOptions = {}): Promise<ChunkAudio | null> {
    if (this.held && !o.resumesHeld) throw new Error("a word is held back: the next chunk must resume it, or release it first");
    if (!this.held && o.resumesHeld) throw new Error("no word is held back to resume");
    this.held = null;
    const { signal } = o;
    const speed = o.speed ?? 1;
    const stages = noStageTimes();
    let t0 = performance.now();
    const clean = normalizeText(text);
    if (!isSpeakable(clean)) return null;
    const ph = await this.phonemizer.phonemize(clean);
    stages.g2p_ms = performance.now() - t0;
    if (ph.ids.length === 0) return null;
    const seed = (this.chunkSeed = (Math.imul(this.chunkSeed ^ 0x9e3779b9, 0x85ebca6b) + 1) >>> 0);

    const run = runOptionsOf(o);
    t0 = performance.now();
    let ids = ph.ids;
    // where the held word starts is known once text to semantic has made the chunk (it reads the durations)
    const found: { split: WordSplit | null } = { split: null };
    let sem = await this.semanticFor(ids, seed, speed, run, o.holdLastWord
      ? (all) => (found.split = this.lastWordSplit(text, all))?.symbol ?? ids.length : undefined);
    const { split } = found;
    stages.t2s_ms = performance.now() - t0;
    if (signal?.aborted) return null;
    let spoken = text;
    let heldFrom: number | undefined;
    if (split) {
      const frames = split.frames;
      this.held = {
        text: text.slice(split.textAt), ids: ids.slice(split.symbol), speed, seed,
        sem: { tokens: sem.tokens.slice(frames), durations: sem.durations.slice(split.symbol) },
      };
      ids = ids.subarray(0, split.symbol);
      sem = { tokens: sem.tokens.subarray(0, frames), durations: sem.durations.subarray(0, split.symbol) };
      spoken = text.slice(0, split.textAt);
      heldFrom = split.textAt;
    }
    const audio = await this.speak(spoken, ids, sem, seed, stages, o);
    // the held word's symbols are counted where it is spoken
    return { ...audio, phonemes: ids.length, ...(heldFrom !== undefined ? { heldFrom } : {}) };
  }

  /** Whether a word is held back (see SynthesisOptions.holdLastWord). */
  get holdsWord(): boolean {
    return this.held !== null;
  }

  /** Speak the held word as it was made (the text after it did not come in time, or the stream pauses); null when
   * none is held. Its text and words are relative to the held word's first character. */
  async releaseHeld(o: Omit<SynthesisOptions, "holdLastWord" | "resumesHeld"> = {}): Promise<ChunkAudio | null> {
    const h = this.held;
    if (!h) return null;
    this.held = null;
    this.remember(h.ids, h.sem);
    this.prevSpeed = h.speed;
    const audio = await this.speak(h.text, h.ids, h.sem, h.seed, noStageTimes(), { ...o, firstWindowFrames: 0 });
    return { ...audio, phonemes: h.ids.length };
  }

  /**
   * Where a chunk's last word starts, when it can be held back: the chunk has another spoken word before it, and
   * the last written word is the last spoken group alone (not a word espeak-ng joined to the one before, or split).
   * `symbol`: index of its first symbol (just after a word separator); `frames`: the semantic frames before it.
   */
  private lastWordSplit(text: string, r: { ids: Int32Array; sem: SemanticResult }): WordSplit | null {
    const { isSeparator, isSilent } = this.phonemizer;
    const groups = spokenGroups(r.ids, r.sem.durations, isSeparator, isSilent);
    const written = writtenWords(text);
    if (groups.length < 2 || written.length < 2) return null;
    const words = alignWords(text, groups, 1, 0, 0);
    const last = words[words.length - 1];
    const g = groups[groups.length - 1];
    if (words.length !== written.length || last.start_ms !== g.startFrame || words[words.length - 2].end_ms > g.startFrame) return null;
    // back from the last spoken symbol (past any marks or separator after it) to the separator before its word
    let symbol = r.ids.length;
    while (symbol > 0 && (isSeparator(r.ids[symbol - 1]) || isSilent(r.ids[symbol - 1]))) symbol--;
    while (symbol > 0 && !isSeparator(r.ids[symbol - 1])) symbol--;
    if (symbol === 0) return null;
    let frames = 0;
    for (let i = 0; i < symbol; i++) frames += r.sem.durations[i];
    return { textAt: written[written.length - 1].offset, symbol, frames };
  }

  /** Acoustic tokens and PCM for semantic tokens already made; each window's codes go to the codec (and its PCM to
   * the sink) as soon as they exist. */
  private async speak(text: string, ids: Int32Array, sem: SemanticResult, seed: number, stages: StageTimes, o: SynthesisOptions):
    Promise<Omit<ChunkAudio, "phonemes">> {
    const m = this.manifest;
    const { acoustic } = this;
    const { signal, priority, sink } = o;
    const run = runOptionsOf(o);
    const frameMs = (1000 * m.audio.hop_length * this.repeat) / m.audio.sample_rate;
    const words = alignWords(text, spokenGroups(ids, sem.durations, this.phonemizer.isSeparator, this.phonemizer.isSilent), frameMs, 0, 0);
    sink?.words?.(words);

    const newSem = repeatTokens(conditioningIds(m, sem.tokens, ids, sem.durations), this.repeat);
    const pieces: Float32Array[] = [];
    const t1 = performance.now();
    const { passes, shedPasses, shedLevels } = await generateInWindows(acoustic, this.voicePrompt, this.tail, newSem, {
      maxWindowFrames: m.soundstorm.max_window_frames, tailFrames: m.soundstorm.tail_frames, seed,
      ...(o.firstWindowFrames ? { firstWindowFrames: o.firstWindowFrames, capFirstWindow: o.urgent === true } : {}),
      ...(o.fast && m.decoding.fast_schedule ? { schedule: m.decoding.fast_schedule } : {}),
      ...(this.shedding ? { shedding: this.shedding } : {}),
      ...(signal ? { signal } : {}),
      ...(priority !== undefined ? { priority } : {}),
      onWindow: async (codes) => {
        const c0 = performance.now();
        const pcm = await this.codec.push(this.forCodec(codes), run);
        stages.codec_ms += performance.now() - c0;
        pieces.push(pcm);
        sink?.pcm?.(pcm);
      },
    });
    stages.soundstorm_ms = performance.now() - t1 - stages.codec_ms;
    const pcm = pieces.length === 1 ? pieces[0] : concatF32(pieces);
    return { pcm, frames: newSem.length, passes, shedPasses, shedLevels, stages, words };
  }

  /**
   * Semantic tokens for one chunk's phonemes, conditioned on the voice and on the stream's previous
   * piece. A chunk longer than text_to_semantic.max_input_symbols goes in pieces cut at word
   * boundaries, each piece the "previous chunk" of the next, as the models were trained.
   */
  private async semanticFor(ids: Int32Array, seed: number, speed: number, run: RunOptions,
    keep: (all: { ids: Int32Array; sem: SemanticResult }) => number = () => ids.length): Promise<SemanticResult> {
    const pieces = splitAtWords(ids, this.manifest.text_to_semantic.max_input_symbols ?? Infinity, this.phonemizer.isSeparator);
    const tokens: Int32Array[] = [];
    const durations: Int32Array[] = [];
    let start = 0;
    for (const [i, piece] of pieces.entries()) {
      // the stream's context at the voice's own pace: the duration model reads the speaking rate from it, and
      // context already slowed (or sped up) by `speed` would have the change applied again, chunk after chunk
      const sem = await this.t2s.generate(piece, {
        phonemes: concatI32(this.voicePhonemes, this.prevPhonemes),
        semantic: concatI32(this.t2sVoiceSemantic, atNaturalPace(this.prevSemantic, this.prevSpeed)),
      }, seed, speed, run);
      tokens.push(sem.tokens);
      durations.push(sem.durations);
      this.prevSpeed = speed;
      if (i < pieces.length - 1) { this.remember(piece, sem); start += piece.length; continue; }
      // the last piece's context is what of it is spoken now: all of it, or up to a word held back
      const all = { tokens: tokens.reduce(concatI32), durations: durations.reduce(concatI32) };
      const n = Math.max(0, keep({ ids, sem: all }) - start);
      let frames = 0;
      for (let k = 0; k < n; k++) frames += sem.durations[k];
      this.remember(piece.subarray(0, n), { tokens: sem.tokens.subarray(0, frames), durations: sem.durations.subarray(0, n) });
      return all;
    }
    throw new Error("no phonemes");
  }

  /**
   * Keep the stream's last context_phonemes and exactly the semantic frames they were given, reaching
   * back past this piece when it is shorter: training takes the context as the context_phonemes symbols
   * before the target in the same utterance, whatever chunk they came from.
   */
  private remember(piece: Int32Array, sem: SemanticResult): void {
    const phonemes = concatI32(this.prevPhonemes, piece);
    const durations = concatI32(this.prevDurations, sem.durations);
    const semantic = concatI32(this.prevSemantic, sem.tokens);
    const keep = Math.min(this.manifest.text_to_semantic.context_phonemes, phonemes.length);
    let keepFrames = 0;
    for (let i = phonemes.length - keep; i < phonemes.length; i++) keepFrames += durations[i];
    this.prevPhonemes = phonemes.slice(phonemes.length - keep);
    this.prevDurations = durations.slice(durations.length - keep);
    this.prevSemantic = semantic.slice(semantic.length - keepFrames);
  }

  /** A window's codes as the codec decoder reads them: cells SoundStorm did not generate (still the mask id: levels
   * past acousticLevels, or shed) become the absent code, which adds nothing. */
  private forCodec(codes: Int32Array): Int32Array {
    const { absent_code: absent } = this.manifest.codec;
    const mask = this.manifest.soundstorm.mask_id;
    if (absent === undefined || absent === mask || !codes.includes(mask)) return codes;
    return codes.map((c) => (c === mask ? absent : c));
  }

  /** The audio the codec holds back for right context, now: at the end of the stream, and at a flush (the
   * client wants everything so far audible; later chunks continue after it). Frames returned here are decoded
   * without their right context, so call it only where the stream pauses, not after every chunk. */
  async flush(run?: RunOptions): Promise<Float32Array> {
    return this.codec.flush(run);
  }
}

/**
 * `ids` cut into pieces of at most `max` symbols, each ending just after a word separator where one
 * exists (a single word longer than `max` is a piece of its own, whole).
 */
export function splitAtWords(ids: Int32Array, max: number, isSeparator: (id: number) => boolean): Int32Array[] {
  if (ids.length <= max) return [ids];
  const pieces: Int32Array[] = [];
  let start = 0;
  let lastCut = -1;   // index just past the latest separator of the current piece
  for (let i = 0; i < ids.length; i++) {
    if (isSeparator(ids[i])) lastCut = i + 1;
    if (i + 1 - start >= max && i + 1 < ids.length && lastCut > start) {
      pieces.push(ids.subarray(start, lastCut));
      start = lastCut;
    }
  }
  pieces.push(ids.subarray(start));
  return pieces;
}

/** Frames made at `speed` resampled to the pace they would have at speed 1 (nearest frame). */
export function atNaturalPace(frames: Int32Array, speed: number): Int32Array {
  if (speed === 1 || frames.length === 0) return frames;
  const n = Math.max(1, Math.round(frames.length * speed));
  return Int32Array.from({ length: n }, (_, k) => frames[Math.min(frames.length - 1, Math.floor(k / speed))]);
}
