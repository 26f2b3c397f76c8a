/**
 * `soundstorm eval e2e`: the server's own per-context pipeline (chunker -> phonemes -> text-to-semantic ->
 * SoundStorm -> codec -> output, exactly as a WebSocket context runs it, minus the socket) for each
 * base voice and sentence, transcribed by pocketsphinx against flite's own audio of the same sentence.
 * The streaming variant feeds the same sentence word by word at 20 words/s. Both run on a virtual clock by
 * default (chunk cuts and schedules then depend only on the text and its timing, not on the machine's load;
 * see runTurn).
 */
import { loadSynthesizer } from "../app.js";
import { buildConfig, NO_LOAD_SHEDDING, type ServerConfig } from "../config.js";
import { createMetrics, type Metrics } from "../metrics.js";
import { decodeAudioMessage } from "../protocol/audio-header.js";
import type { LatencyProfile, ServerEvent } from "../protocol/messages.js";
import { ManualClock } from "../session/clock.js";
import { PromptSentences } from "./prompt-overlap.js";
import { SynthesisContext } from "../session/context.js";
import type { Synthesizer } from "../synth/synthesizer.js";
import { transcribe, type Transcript } from "./asr.js";
import { differenceWithInterval, pairErrors, sentenceErrors } from "./bootstrap.js";
import { BASE_VOICES, fliteSpeak } from "./flite.js";
import { corpusWer, normalizeWords } from "./wer.js";

export interface E2EEvalOptions {
  readonly modelDir: string;
  readonly sentences: readonly string[];
  readonly voices?: readonly string[];
  readonly streaming: boolean;
  readonly wordsPerSecond?: number;
  /** Speaking rate of every turn (create_context's speed); 1 by default. */
  readonly speed?: number;
  /** Latency profile of every turn (create_context's latency: how text is cut into chunks); balanced by default. */
  readonly latency?: LatencyProfile;
  /** Seed of every turn (create_context's seed); 1 by default. It changes nothing in one-sentence turns: each of their
   * chunks is due soon, so it is decoded with the fast schedule (one greedy pass a level); only chunks with more than
   * inference.fastScheduleSlackMs of slack sample. */
  readonly seed?: number;
  /** Also report each sentence's transcripts (for finding which words are lost). */
  readonly transcripts?: boolean;
  /** Time of the turns, whole and streamed: "virtual" (default) makes synthesis take no time, so every run cuts
   * and schedules the same chunks; "real" runs on the wall clock, as a live client does (cuts and the fast
   * schedules of late chunks then move with the machine's load). */
  readonly clock?: TurnClock;
  /** RVQ levels SoundStorm generates (config inference.acousticLevels); all by default. */
  readonly acousticLevels?: number;
  readonly log?: (m: string) => void;
}

export const TURN_CLOCKS = ["virtual", "real"] as const;
export type TurnClock = (typeof TURN_CLOCKS)[number];

/** One sentence's transcripts: pocketsphinx on our audio, on flite's, and on the word-by-word run. */
export interface SentenceTranscript {
  text: string; hyp: string; reference_hyp: string; streaming_hyp?: string;
  /** The chunks the streamed turn was cut into (chunk_metrics texts, merged chunks as one). */
  streaming_chunks?: string[];
}

interface VoiceScore {
  wer: number; reference_wer: number; streaming_wer?: number; utterances: number;
  /** 95 % paired-bootstrap intervals over the sentences: wer − reference_wer (the end-to-end bar's
   * difference) and streaming_wer − wer (the streaming bar's). */
  wer_minus_reference_ci95: [number, number];
  streaming_minus_whole_ci95?: [number, number];
  /** Mean chunks a word-by-word turn was cut into (merged chunks count once). */
  streaming_chunks_per_turn?: number;
  /** Word-by-word turns on the virtual clock, means per turn (ms): from the first word to the first audio, and the
   * silence a listener playing the audio as it comes hears after that (waiting for text; synthesis takes no time). */
  streaming_first_audio_ms?: number;
  streaming_stall_ms?: number;
  /** Mean absolute difference (ms) between our word times and pocketsphinx's, on correctly recognized words. */
  word_timing_mae_ms: number; word_timing_words: number;
  /** Sentences left out for this voice because its prompt speaks them (they are not held out). */
  prompt_sentences_left_out?: number;
  transcripts?: SentenceTranscript[];
}

export interface E2EEvalReport {
  stage: "e2e";
  model: string;
  voices: Record<string, VoiceScore>;
  rtf: number;
  words_per_second?: number;
  /** Present when the turns ran at a speaking rate other than 1. */
  speed?: number;
  /** Present when the turns ran with a latency profile other than balanced. */
  latency?: LatencyProfile;
  /** Present when the turns ran with a seed other than 1. */
  seed?: number;
  /** The turns' clock. */
  clock: TurnClock;
  /** Present when SoundStorm generated fewer than all levels. */
  acoustic_levels?: number;
}

export interface TurnResult {
  readonly pcm: Float32Array;
  readonly events: ServerEvent[];
  /** What a listener playing each audio message as it arrives hears, on the turn's clock: time from the first
   * text to the first audio, and the silence after that while it waits for the next audio (ms). On the virtual
   * clock synthesis takes no time, so this is what the chunking alone costs: waiting for text. */
  readonly listener: ListenerTimeline;
}

export interface ListenerTimeline {
  readonly firstAudioMs: number;
  readonly stallMs: number;
}

/** Plays audio pieces (arrival time, duration; ms, in arrival order) back to back, each no earlier than it
 * arrived: when the first began and the silence between the first and the last. */
export function listenerTimeline(start: number, pieces: readonly { at: number; ms: number }[]): ListenerTimeline {
  if (pieces.length === 0) return { firstAudioMs: NaN, stallMs: 0 };
  let end = pieces[0].at;
  let stall = 0;
  for (const p of pieces) {
    if (p.at > end) { stall += p.at - end; end = p.at; }
    end += p.ms;
  }
  return { firstAudioMs: pieces[0].at - start, stallMs: stall };
}

/** pocketsphinx's transcripts of `pcms` and their corpus WER (%, two decimals) against `sentences`. */
export function transcribedWer(sentences: readonly string[], pcms: Float32Array[], sampleRate: number): { wer: number; hyp: Transcript[] } {
  const hyp = transcribe(pcms, sampleRate);
  return { wer: Math.round(corpusWer(sentences.map((ref, i) => ({ ref, hyp: hyp[i].text }))) * 100) / 100, hyp };
}

/** create_context's settings for an evaluation turn; unset ones take TURN_DEFAULTS. */
export interface TurnSettings {
  readonly seed?: number;
  readonly latency?: LatencyProfile;
  readonly speed?: number;
}

const TURN_DEFAULTS = { seed: 1, latency: "balanced", speed: 1 } as const satisfies Required<TurnSettings>;

/**
 * Run one turn through a SynthesisContext: `pieces` appended `intervalMs` apart, then end. On the "real" clock
 * the pieces arrive on the wall clock while chunks are synthesized. On the "virtual" clock (ManualClock) each
 * piece's work is finished before time moves on, as if synthesis took no time: the chunking deadlines and the
 * listener's playback still act, on virtual time, so a run is repeatable.
 */
export async function runTurn(synth: Synthesizer, config: ServerConfig, metrics: Metrics, voice: string,
  pieces: readonly string[], intervalMs: number, settings: TurnSettings = {}, clock: TurnClock = "virtual"): Promise<TurnResult> {
  const { seed, latency, speed } = { ...TURN_DEFAULTS, ...settings };
  const parts: Int16Array[] = [];
  const events: ServerEvent[] = [];
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => { resolveDone = res; rejectDone = rej; });
  // an error event can reject `done` while the pieces are still being fed: handled here so it is not an
  // unhandled rejection, and rethrown by the `await done` below
  done.catch(() => {});
  const virtual = clock === "virtual" ? new ManualClock() : null;
  const now = () => (virtual ? virtual.now() : performance.now());
  // pcm_16000 output: the model's rate
  const sampleRate = synth.manifest.audio.sample_rate;
  const arrivals: { at: number; ms: number }[] = [];
  const ctx = new SynthesisContext(
    { id: "eval", index: 0, voice, format: "pcm_16000", latency, seed, pacing: "burst", speed },
    {
      synth, config, metrics,
      sink: {
        sendJson(ev) {
          events.push(ev);
          if (ev.type === "context_done") resolveDone();
          // a chunk with nothing to say is skipped and the turn goes on, as for a client; other errors end it
          if (ev.type === "error" && ev.code !== "no_speakable_text") rejectDone(new Error(`${ev.code}: ${ev.message}`));
        },
        sendBinary(bytes) {
          const { payload } = decodeAudioMessage(bytes);
          const samples = new Int16Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength));
          parts.push(samples);
          if (samples.length > 0) arrivals.push({ at: now(), ms: (1000 * samples.length) / sampleRate });
        },
      },
      onIdle() {},
      onClosed() {},
      ...(virtual ? { clock: virtual } : {}),
    });
  const settle = () => ctx.settled();
  const start = now();
  for (const [i, p] of pieces.entries()) {
    ctx.append(p);
    if (i === pieces.length - 1 || intervalMs <= 0) continue;
    if (virtual) {
      await settle();
      await virtual.advance(intervalMs, settle);
    } else await new Promise((r) => setTimeout(r, intervalMs));
  }
  ctx.end();
  await done;
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) pcm[off++] = p[i] / 32768;
  return { pcm, events, listener: listenerTimeline(start, arrivals) };
}

export async function evalE2E(o: E2EEvalOptions): Promise<E2EEvalReport> {
  const log = o.log ?? (() => {});
  // turns run one at a time, and what they measure must not depend on the machine's load: no load shedding
  const config = buildConfig({ modelDir: o.modelDir, inference: { intraOpThreads: 2, ...NO_LOAD_SHEDDING, ...(o.acousticLevels ? { acousticLevels: o.acousticLevels } : {}) } });
  const { synth, models } = await loadSynthesizer(config);
  const metrics = createMetrics();
  const wps = o.wordsPerSecond ?? 20;
  const turn = { speed: o.speed ?? TURN_DEFAULTS.speed, latency: o.latency ?? TURN_DEFAULTS.latency, seed: o.seed ?? TURN_DEFAULTS.seed };
  const clock = o.clock ?? "virtual";
  try {
    const sr = synth.manifest.audio.sample_rate;
    const voices = o.voices ?? BASE_VOICES;
    const report: E2EEvalReport = {
      stage: "e2e", model: synth.manifest.name, voices: {}, rtf: 0,
      clock,
      ...(o.streaming ? { words_per_second: wps } : {}),
      ...(turn.speed !== TURN_DEFAULTS.speed ? { speed: turn.speed } : {}),
      ...(turn.latency !== TURN_DEFAULTS.latency ? { latency: turn.latency } : {}),
      ...(turn.seed !== TURN_DEFAULTS.seed ? { seed: turn.seed } : {}),
      ...(o.acousticLevels && o.acousticLevels < synth.manifest.codec.levels ? { acoustic_levels: o.acousticLevels } : {}),
    };
    let genS = 0, audioS = 0;
    const promptSentences = new PromptSentences(synth.phonemizer);
    for (const v of voices) {
      if (!synth.hasVoice(v)) throw new Error(`model has no voice '${v}'`);
      const prompt = synth.manifest.voicePrompts.get(v);
      const { sentences, skipped } = prompt ? await promptSentences.without(prompt.phonemes, o.sentences) : { sentences: [...o.sentences], skipped: 0 };
      if (skipped) log(`  ${v}: ${skipped} sentence(s) left out: the voice prompt speaks them`);
      const ref: Float32Array[] = [], whole: Float32Array[] = [], streamed: Float32Array[] = [], cuts: string[][] = [];
      const heard: ListenerTimeline[] = [];
      const wordEvents: { word: string; start_ms: number; end_ms: number }[][] = [];
      for (const [i, text] of sentences.entries()) {
        ref.push(fliteSpeak(text, v).pcm);
        const t0 = performance.now();
        // the whole turn runs on the same clock: on the real one, a loaded machine changes its chunks' schedules
        const w = await runTurn(synth, config, metrics, v, [text], 0, turn, clock);
        genS += (performance.now() - t0) / 1000;
        audioS += w.pcm.length / sr;
        whole.push(w.pcm);
        wordEvents.push(w.events.flatMap((ev) => (ev.type === "words" ? ev.words : [])));
        if (o.streaming) {
          const words = text.split(/(?<=\s)/);
          const st = await runTurn(synth, config, metrics, v, words, 1000 / wps, turn, clock);
          streamed.push(st.pcm);
          heard.push(st.listener);
          cuts.push(st.events.flatMap((ev) => (ev.type === "chunk_metrics" ? [ev.text] : [])));
        }
        if ((i + 1) % 10 === 0) log(`  ${v}: ${i + 1}/${sentences.length}`);
      }
      const score = (pcms: Float32Array[]) => transcribedWer(sentences, pcms, sr);
      const w = score(whole);
      const r = score(ref);
      const s = o.streaming ? score(streamed) : undefined;
      const errs = w.hyp.flatMap((h, i) => timingErrors(wordEvents[i], h.words));
      const errorsIn = (x: { hyp: Transcript[] }) => sentenceErrors(sentences, x.hyp.map((h) => h.text));
      const [we, re] = [errorsIn(w), errorsIn(r)];
      report.voices[v] = {
        wer: w.wer, reference_wer: r.wer,
        wer_minus_reference_ci95: differenceWithInterval(pairErrors(we, re)).ci95,
        ...(s ? { streaming_minus_whole_ci95: differenceWithInterval(pairErrors(errorsIn(s), we)).ci95 } : {}),
        word_timing_mae_ms: errs.length ? Math.round(errs.reduce((a, b) => a + b, 0) / errs.length) : NaN,
        word_timing_words: errs.length / 2,
        ...(s ? {
          streaming_wer: s.wer, streaming_chunks_per_turn: Math.round((cuts.flat().length / cuts.length) * 100) / 100,
          ...(clock === "virtual" ? {
            streaming_first_audio_ms: Math.round(mean(heard.map((h) => h.firstAudioMs))),
            streaming_stall_ms: Math.round(mean(heard.map((h) => h.stallMs))),
          } : {}),
        } : {}),
        utterances: sentences.length,
        ...(skipped ? { prompt_sentences_left_out: skipped } : {}),
      };
      log(`  ${v}: ${JSON.stringify(report.voices[v])}`);
      if (o.transcripts) {
        report.voices[v].transcripts = sentences.map((text, i) => ({
          text, hyp: w.hyp[i].text, reference_hyp: r.hyp[i].text,
          ...(s ? { streaming_hyp: s.hyp[i].text, streaming_chunks: cuts[i] } : {}),
        }));
      }
    }
    report.rtf = Math.round((genS / audioS) * 1e4) / 1e4;
    return report;
  } finally {
    await models.dispose();
  }
}

/**
 * |start| and |end| differences (ms) between our word timestamps and the recognizer's, for words it
 * recognized correctly: the two sequences are matched in order (longest common subsequence of the
 * normalized words), so a misrecognized word is left out rather than shifting the rest. Among equally long
 * matchings the one with the smallest total start difference wins: when the recognizer drops an early
 * "the", a later "the" is paired with ours at the same place, not with our first one.
 */
export function timingErrors(ours: readonly { word: string; start_ms: number; end_ms: number }[],
  asr: readonly { word: string; start: number; end: number }[]): number[] {
  const a = ours.map((w) => normalizeWords(w.word).join(" "));
  const b = asr.map((w) => normalizeWords(w.word).join(" "));
  const n = a.length, m = b.length;
  // best[i][j]: the best matching of a[i..] with b[j..], as (matches, total |start difference|)
  const count = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  const cost = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  const better = (c1: number, d1: number, c2: number, d2: number) => c1 > c2 || (c1 === c2 && d1 < d2);
  const gap = (i: number, j: number) => Math.abs(ours[i].start_ms - asr[j].start * 1000);
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    let c = count[i + 1][j], d = cost[i + 1][j];
    if (better(count[i][j + 1], cost[i][j + 1], c, d)) { c = count[i][j + 1]; d = cost[i][j + 1]; }
    if (a[i] && a[i] === b[j] && better(count[i + 1][j + 1] + 1, cost[i + 1][j + 1] + gap(i, j), c, d)) {
      c = count[i + 1][j + 1] + 1; d = cost[i + 1][j + 1] + gap(i, j);
    }
    count[i][j] = c; cost[i][j] = d;
  }
  const out: number[] = [];
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] && a[i] === b[j] && count[i][j] === count[i + 1][j + 1] + 1 && cost[i][j] === cost[i + 1][j + 1] + gap(i, j)) {
      out.push(gap(i, j), Math.abs(ours[i].end_ms - asr[j].end * 1000));
      i++; j++;
    } else if (count[i][j] === count[i + 1][j] && cost[i][j] === cost[i + 1][j]) i++;
    else j++;
  }
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}
