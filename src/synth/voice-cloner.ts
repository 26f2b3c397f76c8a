/**
 * Voice cloning: a few seconds of speech -> a VoicePrompt like the model's own voices.
 *
 *   WAV -> mono (channels averaged) -> model rate -> leading/trailing silence trimmed
 *   -> the first speech up to promptMaxS, cut at the quietest point of its last second
 *   -> padded to whole semantic frames -> codec_encoder (acoustic codes, frame rate)
 *      and semantic_tokenizer (units, semantic rate)
 *
 * The phonemes come from an optional transcript (the server's own front end: normalizeText then
 * espeak). When the prompt keeps only the start of longer speech, the transcript is cut to the
 * whole words that cover about the same share of the speech (by voiced time and sounding
 * phonemes). Without a transcript the prompt has no phonemes: the stream then conditions
 * text-to-semantic only on its own previous chunk (see SpeechStream), and SoundStorm on the voice.
 *
 * The encoder graphs are not part of SERVING_GRAPHS: they are loaded on the first clone.
 */
import { ServiceError } from "../errors.js";
import type { ServingManifest, VoicePrompt } from "../models/manifest.js";
import { loadModelSet, type ModelSet } from "../models/model-set.js";
import type { SessionOptions } from "../models/ort.js";
import type { Phonemizer } from "../pipeline/phonemes/g2p.js";
import { unitsOfAudio } from "../pipeline/semantic/units-of-audio.js";
import { isSpeakable, normalizeText } from "../pipeline/text/normalize.js";
import { prepareSpeechOffThread, type CloneLimits } from "./speech-prep.js";


export interface CloneRequest {
  readonly name: string;
  readonly wav: Uint8Array;
  readonly transcript?: string;
  readonly description?: string;
}

export interface ClonedVoice {
  readonly prompt: VoicePrompt;
  /** Speech in the upload (silence trimmed), seconds. */
  readonly speechSeconds: number;
  /** The transcript as given (null without one). */
  readonly transcript: string | null;
}

/**
 * The first whole words of an IPA string that hold about `share` of its sounding phonemes
 * (at least one word).
 */
export function leadingWords(ipa: string, share: number, phonemizer: Phonemizer, separator: string): string {
  if (share >= 1) return ipa;
  const words = ipa.split(separator).filter((w) => w.length > 0);
  if (words.length <= 1) return ipa;
  const counts = words.map((w) => Array.from(phonemizer.encode(w)).filter((id) => !phonemizer.isSilent(id)).length);
  const total = counts.reduce((a, b) => a + b, 0);
  const target = share * total;
  let best = 1, bestErr = Infinity, cum = 0;
  for (let k = 1; k <= words.length; k++) {
    cum += counts[k - 1];
    const err = Math.abs(cum - target);
    if (err < bestErr) { best = k; bestErr = err; }
  }
  return words.slice(0, best).join(separator);
}

export class VoiceCloner {
  private encoders: Promise<ModelSet> | null = null;

  constructor(
    private readonly manifest: ServingManifest,
    private readonly phonemizer: Phonemizer,
    private readonly sessionOptions: SessionOptions,
    private readonly limits: CloneLimits,
  ) {}

  /** Whether the model has the graphs cloning needs. */
  get available(): boolean {
    return Boolean(this.manifest.graphs.codec_encoder && this.manifest.graphs.semantic_tokenizer);
  }

  private loadEncoders(): Promise<ModelSet> {
    if (!this.encoders) {
      this.encoders = loadModelSet(this.manifest.dir, this.sessionOptions, ["codec_encoder", "semantic_tokenizer"]);
      this.encoders.catch(() => { this.encoders = null; }); // a failed load is tried again next time
    }
    return this.encoders;
  }

  /** Phonemes (IPA) of a transcript, with the server's front end; throws no_speakable_text. */
  async transcriptIpa(transcript: string): Promise<string> {
    const clean = normalizeText(transcript);
    if (!isSpeakable(clean)) throw new ServiceError("no_speakable_text", "the transcript has nothing speakable");
    const { ipa } = await this.phonemizer.phonemize(clean);
    return ipa;
  }

  /** Make a voice prompt from an upload; the caller registers and stores it. */
  async clone(req: CloneRequest): Promise<ClonedVoice> {
    if (!this.available) throw new ServiceError("cloning_unavailable", `model '${this.manifest.name}' has no codec_encoder or semantic_tokenizer graph`);
    const m = this.manifest;
    // decoding and resampling a long upload takes long enough (~0.5 s at 192 kHz) to stall every stream's pacing
    const speech = await prepareSpeechOffThread(req.wav, m, this.limits);
    const transcript = req.transcript?.trim() ? req.transcript.trim() : null;
    let phonemes = "";
    if (transcript !== null) phonemes = leadingWords(await this.transcriptIpa(transcript), speech.keptShare, this.phonemizer, m.text.word_separator);

    const graphs = (await this.loadEncoders()).graphs;
    const audio = { data: speech.pcm, dims: [1, speech.pcm.length] };
    const enc = await graphs.codec_encoder.run({ audio });
    const units = await unitsOfAudio(graphs.semantic_tokenizer, m, speech.pcm);
    const Q = m.codec.levels, repeat = m.semantic.repeat;
    const codes = enc.codes.data as BigInt64Array;
    const T = enc.codes.dims[2];
    if (enc.codes.dims[1] !== Q || codes.length !== Q * T) throw new Error(`codec_encoder returned codes of shape [${enc.codes.dims}], expected [1,${Q},frames]`);
    const semFrames = Math.min(units.length, Math.floor(T / repeat));
    if (semFrames <= 0) throw new Error(`encoders returned ${T} codec frames and ${units.length} semantic units`);
    const frames = semFrames * repeat;
    const acoustic = new Int32Array(frames * Q);
    for (let t = 0; t < frames; t++) for (let q = 0; q < Q; q++) acoustic[t * Q + q] = Number(codes[q * T + t]);
    const semantic = units.slice(0, semFrames);
    const promptS = frames / m.audio.frame_rate;
    const description = req.description?.trim() ||
      `cloned voice '${req.name}': ${promptS.toFixed(2)} s prompt from ${speech.speechSeconds.toFixed(2)} s of speech, ${transcript === null ? "no transcript" : "with transcript"}`;
    return {
      prompt: { name: req.name, description, phonemes, semantic, acoustic, frames },
      speechSeconds: speech.speechSeconds,
      transcript,
    };
  }

  async dispose(): Promise<void> {
    const e = this.encoders;
    this.encoders = null;
    if (e) await e.then((s) => s.dispose(), () => {});
  }
}
