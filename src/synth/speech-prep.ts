/**
 * An upload made ready for the voice encoders: decoded, downmixed, resampled to the model rate, silence
 * trimmed, cut to the prompt. Pure, no models: it runs in a worker thread when serving
 * (`prepareSpeechOffThread`), since a long high-rate upload takes a noticeable time.
 */
import { Worker } from "node:worker_threads";
import { ServiceError, type ErrorCode } from "../errors.js";
import type { ServingManifest } from "../models/manifest.js";
import { Resampler } from "../pipeline/audio/resample.js";
import { decodeWav } from "../pipeline/audio/wav.js";

export interface CloneLimits {
  readonly minSpeechS: number;
  readonly maxSpeechS: number;
  readonly maxAudioS: number;
  readonly promptMaxS: number;
}

/** What of the manifest the preparation needs (plain data: it crosses to the worker). */
export type SpeechRates = { readonly audio: Pick<ServingManifest["audio"], "sample_rate" | "hop_length">; readonly semantic: Pick<ServingManifest["semantic"], "repeat"> };

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
export function prepareSpeech(wav: Uint8Array, m: SpeechRates, limits: CloneLimits): PreparedSpeech {
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


/** prepareSpeech in a worker thread; its ServiceErrors come back as ServiceErrors. */
export function prepareSpeechOffThread(wav: Uint8Array, m: SpeechRates, limits: CloneLimits): Promise<PreparedSpeech> {
  const rates: SpeechRates = { audio: { sample_rate: m.audio.sample_rate, hop_length: m.audio.hop_length }, semantic: { repeat: m.semantic.repeat } };
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./speech-prep-worker.js", import.meta.url), { workerData: { wav, rates, limits } });
    w.once("message", (r: { ok: true; speech: PreparedSpeech } | { ok: false; code?: ErrorCode; detail: string }) => {
      if (r.ok) resolve(r.speech);
      else reject(r.code ? Object.assign(new ServiceError(r.code), { message: r.detail }) : new Error(r.detail));
      void w.terminate();
    });
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`speech preparation worker exited with ${code}`)); });
  });
}
