/**
 * Several `eval e2e --transcripts` reports read as one sentence set. A 50-80 sentence set moves a voice's
 * gap to flite by about ±2 points (session 61: rms +1.2 to +5.7 over five held-out sets), so a bar is better
 * judged on every held-out sentence at once: each voice's WERs are pooled over all the reports' sentences
 * and the paired-bootstrap intervals recomputed over them, exactly as one report of all of them would have it.
 */
import { differenceWithInterval, errorsOf, pairErrors, pooledWers } from "./bootstrap.js";
import type { E2EEvalReport } from "./e2e-eval.js";

export class PoolError extends Error {
  override readonly name = "PoolError";
}

/** The settings that must agree for sentences of different reports to be pooled. */
const SETTINGS = ["model", "speed", "latency", "seed", "clock", "words_per_second", "acoustic_levels"] as const;

export interface PooledVoice {
  /** Sentences pooled (streamed ones may be fewer: reports run with --whole-only have none). */
  sentences: number;
  words: number;
  wer: number;
  reference_wer: number;
  wer_minus_reference: number;
  wer_minus_reference_ci95: [number, number];
  streaming_sentences?: number;
  streaming_wer?: number;
  /** Over the streamed sentences only, against their own whole-sentence WER. */
  streaming_minus_whole?: number;
  streaming_minus_whole_ci95?: [number, number];
}

export interface PooledReport {
  stage: "e2e-pooled";
  /** The reports' names (file paths), in the order given. */
  reports: string[];
  settings: Partial<Record<(typeof SETTINGS)[number], unknown>>;
  voices: Record<string, PooledVoice>;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Pool `reports` (each with its name, for errors). Every report must be an e2e report with transcripts for
 * each voice it scores, made with the same settings; a sentence may appear once per voice (pooling the same
 * sentence twice would count it double and narrow the interval falsely).
 */
export function poolE2EReports(reports: readonly { name: string; report: unknown }[]): PooledReport {
  if (reports.length === 0) throw new PoolError("no reports to pool");
  const first = reports[0];
  const settings: PooledReport["settings"] = {};
  const rows = new Map<string, { text: string; hyp: string; ref: string; stream?: string }[]>();
  const seen = new Map<string, string>();
  for (const { name, report } of reports) {
    const r = report as Partial<E2EEvalReport> | null;
    if (!r || typeof r !== "object" || r.stage !== "e2e" || !r.voices || typeof r.voices !== "object") {
      throw new PoolError(`${name} is not an eval e2e report`);
    }
    for (const k of SETTINGS) {
      const b = (r as Record<string, unknown>)[k];
      // a --whole-only report has no text rate: its whole sentences pool with any streamed report's
      if (k === "words_per_second" && (b === undefined || settings[k] === undefined)) {
        if (b !== undefined) settings[k] = b;
        continue;
      }
      const a = k === "words_per_second" ? settings[k] : (first.report as Record<string, unknown>)[k];
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        throw new PoolError(`${name} was made with ${k} ${JSON.stringify(b) ?? "(default)"}, ${k === "words_per_second" ? "a report before it" : first.name} with ${JSON.stringify(a) ?? "(default)"}: only reports with the same settings pool`);
      }
      if (b !== undefined) settings[k] = b;
    }
    for (const [voice, score] of Object.entries(r.voices)) {
      const ts = score.transcripts;
      if (!Array.isArray(ts)) throw new PoolError(`${name} has no transcripts for ${voice} (run eval e2e with --transcripts)`);
      const list = rows.get(voice) ?? [];
      for (const t of ts) {
        const key = `${voice}\u0000${t.text}`;
        const before = seen.get(key);
        if (before !== undefined) throw new PoolError(`${voice} speaks "${t.text}" in both ${before} and ${name}`);
        seen.set(key, name);
        list.push({ text: t.text, hyp: t.hyp, ref: t.reference_hyp, ...(t.streaming_hyp !== undefined ? { stream: t.streaming_hyp } : {}) });
      }
      rows.set(voice, list);
    }
  }
  const voices: Record<string, PooledVoice> = {};
  for (const [voice, list] of rows) {
    const whole = list.map((x) => errorsOf(x.text, x.hyp));
    const flite = list.map((x) => errorsOf(x.text, x.ref));
    const vsFlite = pairErrors(whole, flite);
    const { a, b } = pooledWers(vsFlite);
    const d = differenceWithInterval(vsFlite);
    const v: PooledVoice = {
      sentences: list.length, words: whole.reduce((s, x) => s + x.words, 0),
      wer: r2(a), reference_wer: r2(b), wer_minus_reference: d.points, wer_minus_reference_ci95: d.ci95,
    };
    const streamed = list.flatMap((x, i) => (x.stream !== undefined ? [{ s: errorsOf(x.text, x.stream), w: whole[i] }] : []));
    if (streamed.length) {
      const vsWhole = pairErrors(streamed.map((x) => x.s), streamed.map((x) => x.w));
      const ds = differenceWithInterval(vsWhole);
      v.streaming_sentences = streamed.length;
      v.streaming_wer = r2(pooledWers(vsWhole).a);
      v.streaming_minus_whole = ds.points;
      v.streaming_minus_whole_ci95 = ds.ci95;
    }
    voices[voice] = v;
  }
  return { stage: "e2e-pooled", reports: reports.map((r) => r.name), settings, voices };
}
