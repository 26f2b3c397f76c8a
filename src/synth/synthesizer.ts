/**
 * Composes the stages for one stream of speech:
 *   text -> phonemes -> semantic tokens -> RVQ acoustic tokens -> PCM
 * A Synthesizer owns the shared stage objects (one per process); each context
 * opens a SpeechStream holding only its own state (previous chunk, acoustic
 * tail, codec decoder position).
 */
import { servingManifest, type ServingManifest, type VoicePrompt } from "../models/manifest.js";
import type { ModelSet } from "../models/model-set.js";
import { AcousticGenerator } from "../pipeline/acoustic/soundstorm.js";
import { CodecStreamDecoder } from "../pipeline/codec/stream-decoder.js";
import { Phonemizer } from "../pipeline/phonemes/g2p.js";
import { TextToSemantic } from "../pipeline/semantic/text-to-semantic.js";
import { normalizeText } from "../pipeline/text/normalize.js";
import { alignWords, spokenGroups, type WordTime } from "../pipeline/text/word-timing.js";
import { concatI32, generateInWindows, repeatTokens, type WindowTail } from "./windows.js";

export interface StageTimes {
  g2p_ms: number;
  t2s_ms: number;
  soundstorm_ms: number;
  codec_ms: number;
}

export interface ChunkAudio {
  /** PCM that is final now (the codec may hold back a few frames until the next chunk or finish()). */
  readonly pcm: Float32Array;
  /** Codec frames generated for this chunk. */
  readonly frames: number;
  readonly phonemes: number;
  readonly passes: number;
  readonly stages: StageTimes;
  /** Word timestamps relative to this chunk's first frame and text. */
  readonly words: WordTime[];
}

export class Synthesizer {
  readonly manifest: ServingManifest;
  readonly phonemizer: Phonemizer;
  private readonly t2s: TextToSemantic;
  private readonly acoustic: AcousticGenerator;
  private readonly voicePhonemes = new Map<string, Int32Array>();

  constructor(private readonly models: ModelSet) {
    const m = (this.manifest = servingManifest(models.manifest));
    this.phonemizer = new Phonemizer(m);
    this.t2s = new TextToSemantic(models.graphs.t2s_duration, models.graphs.t2s_tokens, m);
    this.acoustic = new AcousticGenerator(models.graphs.soundstorm, m);
    for (const [name, v] of m.voicePrompts) this.voicePhonemes.set(name, this.phonemizer.encode(v.phonemes));
  }

  get voices(): string[] {
    return [...this.manifest.voicePrompts.keys()];
  }

  hasVoice(name: string): boolean {
    return this.manifest.voicePrompts.has(name);
  }

  openStream(voice: string, seed: number): SpeechStream {
    const prompt = this.manifest.voicePrompts.get(voice);
    if (!prompt) throw new Error(`unknown voice ${voice}`);
    return new SpeechStream(this.manifest, this.phonemizer, this.t2s, this.acoustic, prompt, this.voicePhonemes.get(voice)!, seed,
      new CodecStreamDecoder(this.models.graphs.codec_decoder, this.manifest));
  }
}


export class SpeechStream {
  private readonly repeat: number;
  private readonly promptSemanticFrames: Int32Array;
  /** Previous chunk of this stream, for text-to-semantic conditioning. */
  private prevPhonemes = new Int32Array(0);
  private prevSemantic = new Int32Array(0);
  /** Tail of committed frames (frame-rate semantic and acoustic), for acoustic conditioning. */
  private readonly tail: WindowTail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
  private chunkSeed: number;

  constructor(
    private readonly manifest: ServingManifest,
    private readonly phonemizer: Phonemizer,
    private readonly t2s: TextToSemantic,
    private readonly acoustic: AcousticGenerator,
    private readonly voice: VoicePrompt,
    private readonly voicePhonemes: Int32Array,
    seed: number,
    private readonly codec: CodecStreamDecoder,
  ) {
    this.repeat = manifest.semantic.repeat;
    this.promptSemanticFrames = repeatTokens(voice.semantic, this.repeat);
    this.chunkSeed = seed >>> 0;
  }

  /** Synthesize one chunk of text; null when it has nothing speakable. `speed` > 1 speaks faster (durations scaled). */
  async synthesize(text: string, signal?: AbortSignal, speed = 1): Promise<ChunkAudio | null> {
    const m = this.manifest;
    const { t2s, acoustic } = this;
    const stages: StageTimes = { g2p_ms: 0, t2s_ms: 0, soundstorm_ms: 0, codec_ms: 0 };
    let t0 = performance.now();
    const clean = normalizeText(text);
    if (!/[\p{L}\p{N}]/u.test(clean)) return null;
    const ph = await this.phonemizer.phonemize(clean);
    stages.g2p_ms = performance.now() - t0;
    if (ph.ids.length === 0) return null;
    const seed = (this.chunkSeed = (Math.imul(this.chunkSeed ^ 0x9e3779b9, 0x85ebca6b) + 1) >>> 0);

    t0 = performance.now();
    const ctxN = m.text_to_semantic.context_phonemes;
    const sem = await t2s.generate(ph.ids, {
      phonemes: concatI32(this.voicePhonemes, this.prevPhonemes),
      semantic: concatI32(this.voice.semantic, this.prevSemantic),
    }, seed, speed);
    stages.t2s_ms = performance.now() - t0;
    // keep the last ctxN phonemes of this chunk and exactly the semantic frames they were given
    const keep = Math.min(ctxN, ph.ids.length);
    let keepFrames = 0;
    for (let i = ph.ids.length - keep; i < ph.ids.length; i++) keepFrames += sem.durations[i];
    this.prevPhonemes = ph.ids.slice(ph.ids.length - keep);
    this.prevSemantic = sem.tokens.slice(sem.tokens.length - keepFrames);
    if (signal?.aborted) return null;

    t0 = performance.now();
    const newSem = repeatTokens(sem.tokens, this.repeat);
    const { codes, passes } = await generateInWindows(acoustic, this.voice, this.promptSemanticFrames, this.tail, newSem, {
      maxWindowFrames: m.soundstorm.max_window_frames, tailFrames: m.soundstorm.tail_frames, seed,
      ...(signal ? { signal } : {}),
    });
    stages.soundstorm_ms = performance.now() - t0;

    t0 = performance.now();
    const pcm = await this.codec.push(codes);
    stages.codec_ms = performance.now() - t0;
    const frameMs = (1000 * m.audio.hop_length * this.repeat) / m.audio.sample_rate;
    const words = alignWords(text, spokenGroups(ph.ids, sem.durations, this.phonemizer.isSeparator, this.phonemizer.isSilent), frameMs, 0, 0);
    return { pcm, frames: newSem.length, phonemes: ph.ids.length, passes, stages, words };
  }

  /** The audio the codec held back for right context; call once at the end of the stream. */
  async finish(): Promise<Float32Array> {
    return this.codec.flush();
  }
}
