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
import { Resampler } from "../pipeline/audio/resample.js";
import { decodeWav } from "../pipeline/audio/wav.js";
import type { Phonemizer } from "../pipeline/phonemes/g2p.js";
import { isSpeakable, normalizeText } from "../pipeline/text/normalize.js";

export interface CloneLimits {
  readonly minSpeechS: number;
  readonly maxSpeechS: number;
  readonly maxAudioS: number;
  readonly promptMaxS: number;
}

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

/** Analysis frame for silence detection (20 ms). */
const FRAME_S = 0.02;
/** Frames below the loudest one by more than this are silence... */
const SILENCE_BELOW_PEAK_DB = 35;
/** ...and so is anything under this level whatever the peak. */
const SILENCE_FLOOR_DBFS = -55;
/** Kept around the speech: a little before the first voiced frame, a pause's worth after the last. */
const LEAD_FRAMES = 2;
const TRAIL_FRAMES = 5;

export interface PreparedSpeech {
  /** The prompt audio at the model rate, a whole number of semantic frames long. */
  readonly pcm: Float32Array;
  /** Speech in the upload, seconds (first to last voiced frame). */
  readonly speechSeconds: number;
  /** Share of the upload's voiced time that the prompt keeps (1 when it keeps all of it). */
  readonly keptShare: number;
}

/**
 * Decode, resample, trim and cut the upload; throws ServiceError (invalid_audio, audio_too_short,
 * audio_too_long). Pure: no models involved.
 */
export function prepareSpeech(wav: Uint8Array, m: ServingManifest, limits: CloneLimits): PreparedSpeech {
  let decoded;
  try {
    decoded = decodeWav(wav, { downmix: true });
  } catch (e) {
    throw new ServiceError("invalid_audio", (e as Error).message);
  }
  const rawS = decoded.pcm.length / decoded.sampleRate;
  if (decoded.sampleRate < 8000 || decoded.sampleRate > 192_000) throw new ServiceError("invalid_audio", `sample rate ${decoded.sampleRate} Hz (8000-192000 accepted)`);
  if (rawS > limits.maxAudioS) throw new ServiceError("audio_too_long", `${rawS.toFixed(2)} s of audio, at most ${limits.maxAudioS} s accepted`);
  const sr = m.audio.sample_rate;
  let pcm = decoded.pcm;
  if (decoded.sampleRate !== sr) {
    const r = new Resampler(decoded.sampleRate, sr);
    const a = r.push(pcm), b = r.flush();
    pcm = new Float32Array(a.length + b.length);
    pcm.set(a);
    pcm.set(b, a.length);
  }

  const frameLen = Math.round(FRAME_S * sr);
  const nFrames = Math.floor(pcm.length / frameLen);
  const db = new Float32Array(nFrames);
  let peak = -Infinity;
  for (let f = 0; f < nFrames; f++) {
    let e = 0;
    for (let i = f * frameLen; i < (f + 1) * frameLen; i++) e += pcm[i] * pcm[i];
    db[f] = 10 * Math.log10(e / frameLen + 1e-12);
    if (db[f] > peak) peak = db[f];
  }
  const minMsg = `at least ${limits.minSpeechS} s of speech needed`;
  if (!(peak > SILENCE_FLOOR_DBFS)) throw new ServiceError("audio_too_short", `no speech found (the audio is silent); ${minMsg}`);
  const threshold = Math.max(peak - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS);
  const voiced = Array.from(db, (d) => d >= threshold);
  // speech starts (ends) at the first (last) frame of a stretch with at least 3 voiced frames in 5: a lone click is not speech
  const dense = (f: number, dir: 1 | -1) => {
    let n = 0;
    for (let k = 0; k < 5; k++) { const j = f + dir * k; if (j >= 0 && j < nFrames && voiced[j]) n++; }
    return n >= 3;
  };
  let first = 0;
  while (first < nFrames && !(voiced[first] && dense(first, 1))) first++;
  let last = nFrames - 1;
  while (last > first && !(voiced[last] && dense(last, -1))) last--;
  if (first >= nFrames) throw new ServiceError("audio_too_short", `no speech found; ${minMsg}`);
  const speechSeconds = ((last - first + 1) * frameLen) / sr;
  if (speechSeconds < limits.minSpeechS) throw new ServiceError("audio_too_short", `${speechSeconds.toFixed(2)} s of speech; ${minMsg}`);
  if (speechSeconds > limits.maxSpeechS) throw new ServiceError("audio_too_long", `${speechSeconds.toFixed(2)} s of speech (silence trimmed), at most ${limits.maxSpeechS} s accepted`);

  const start = Math.max(0, first - LEAD_FRAMES);
  let end = Math.min(nFrames, last + 1 + TRAIL_FRAMES); // exclusive, in frames
  const maxFrames = Math.floor((limits.promptMaxS * sr) / frameLen);
  let keptShare = 1;
  if (end - start > maxFrames) {
    // cut at the quietest frame of the prompt's last second (a pause between words, with luck)
    const lo = start + Math.max(1, maxFrames - Math.round(1 / FRAME_S));
    const hi = start + maxFrames - 1;
    let cut = hi;
    for (let f = hi; f >= lo; f--) if (db[f] < db[cut]) cut = f;
    end = cut + 1;
    let before = 0, total = 0;
    for (let f = first; f <= last; f++) {
      if (!voiced[f]) continue;
      total++;
      if (f < end) before++;
    }
    keptShare = total > 0 ? before / total : 1;
  }
  const unit = m.audio.hop_length * m.semantic.repeat;
  const len = (end - start) * frameLen;
  const out = new Float32Array(Math.ceil(len / unit) * unit);
  out.set(pcm.subarray(start * frameLen, start * frameLen + len));
  return { pcm: out, speechSeconds, keptShare };
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
    const speech = prepareSpeech(req.wav, m, this.limits);
    const transcript = req.transcript?.trim() ? req.transcript.trim() : null;
    let phonemes = "";
    if (transcript !== null) phonemes = leadingWords(await this.transcriptIpa(transcript), speech.keptShare, this.phonemizer, m.text.word_separator);

    const graphs = (await this.loadEncoders()).graphs;
    const audio = { data: speech.pcm, dims: [1, speech.pcm.length] };
    const enc = await graphs.codec_encoder.run({ audio });
    const sem = await graphs.semantic_tokenizer.run({ audio });
    const Q = m.codec.levels, repeat = m.semantic.repeat;
    const codes = enc.codes.data as BigInt64Array;
    const T = enc.codes.dims[2];
    if (enc.codes.dims[1] !== Q || codes.length !== Q * T) throw new Error(`codec_encoder returned codes of shape [${enc.codes.dims}], expected [1,${Q},frames]`);
    const units = sem.units.data as BigInt64Array;
    const semFrames = Math.min(units.length, Math.floor(T / repeat));
    if (semFrames <= 0) throw new Error(`encoders returned ${T} codec frames and ${units.length} semantic units`);
    const frames = semFrames * repeat;
    const acoustic = new Int32Array(frames * Q);
    for (let t = 0; t < frames; t++) for (let q = 0; q < Q; q++) acoustic[t * Q + q] = Number(codes[q * T + t]);
    const semantic = Int32Array.from(units.subarray(0, semFrames), Number);
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
