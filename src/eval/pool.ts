/**
 * Several evaluation reports of different sentences read as one set (`soundstorm eval pool`). A 50-80 sentence
 * set moves a voice's gap to flite by about ±2 points (session 61: rms +1.2 to +5.7 over five held-out sets), so
 * a bar is better judged on every held-out sentence at once: each voice's WERs are pooled over all the reports'
 * sentences and the paired-bootstrap intervals recomputed over them, as one report of all of them would have it.
 * Reads `eval e2e --transcripts` reports (the end-to-end bars) and `eval soundstorm --transcripts` reports
 * (SoundStorm against codec resynthesis, and the resynthesis against flite).
 */
import { differenceWithInterval, errorsOf, pooledWers } from "./bootstrap.js";
import { normalizeWords } from "./wer.js";

export class PoolError extends Error {
  override readonly name = "PoolError";
}

/** How one kind of report pools: the settings that must agree, and the transcripts each sentence carries. */
const STAGES = {
  e2e: { settings: ["model", "speed", "latency", "seed", "clock", "words_per_second", "acoustic_levels"], fields: ["hyp", "reference_hyp", "streaming_hyp"] },
  soundstorm: { settings: ["model", "schedule", "seed"], fields: ["hyp", "codec_hyp", "reference_hyp"] },
} as const;
type Stage = keyof typeof STAGES;

export interface PooledVoice {
  /** Sentences pooled (streamed ones may be fewer: e2e reports run with --whole-only have none). */
  sentences: number;
  words: number;
  /** Our WER (SoundStorm's, for soundstorm reports) and flite's, over the pooled words. */
  wer: number;
  reference_wer: number;
  /** e2e: wer − reference_wer, the end-to-end bar's difference. */
  wer_minus_reference?: number;
  wer_minus_reference_ci95?: [number, number];
  streaming_sentences?: number;
  streaming_wer?: number;
  /** Over the streamed sentences only, against their own whole-sentence WER. */
  streaming_minus_whole?: number;
  streaming_minus_whole_ci95?: [number, number];
  /** soundstorm: the codec resynthesis's WER, wer − codec_wer (issue 4's bar) and codec_wer − reference_wer (issue 3's). */
  codec_wer?: number;
  wer_minus_codec?: number;
  wer_minus_codec_ci95?: [number, number];
  codec_minus_reference?: number;
  codec_minus_reference_ci95?: [number, number];
  /** With skipRepeats: later readings of a sentence this voice already had, left out. */
  repeats_skipped?: number;
}

export interface PooledReport {
  stage: "e2e-pooled" | "soundstorm-pooled";
  /** The reports' names (file paths), in the order given. */
  reports: string[];
  settings: Record<string, unknown>;
  voices: Record<string, PooledVoice>;
}

/** One sentence: its text and each transcript's word errors against it, scored once. */
type Row = { text: string; words: number; errors: Partial<Record<string, number>> };

const r2 = (x: number) => Math.round(x * 100) / 100;

/** A-vs-B over the sentences where both were transcribed: the pooled difference, its interval, A's and B's WERs. */
function compare(rows: readonly Row[], a: string, b: string): { n: number; a: number; b: number; points: number; ci95: [number, number] } | null {
  const units = rows.flatMap((r) => {
    const ea = r.errors[a], eb = r.errors[b];
    return ea !== undefined && eb !== undefined ? [{ errorsA: ea, errorsB: eb, words: r.words }] : [];
  });
  if (units.length === 0) return null;
  const w = pooledWers(units), d = differenceWithInterval(units);
  return { n: units.length, a: r2(w.a), b: r2(w.b), points: d.points, ci95: d.ci95 };
}

function summarize(stage: Stage, rows: readonly Row[]): PooledVoice {
  const words = rows.reduce((s, r) => s + r.words, 0);
  const vsFlite = compare(rows, "hyp", "reference_hyp")!;
  const v: PooledVoice = { sentences: rows.length, words, wer: vsFlite.a, reference_wer: vsFlite.b };
  if (stage === "e2e") {
    v.wer_minus_reference = vsFlite.points;
    v.wer_minus_reference_ci95 = vsFlite.ci95;
    const s = compare(rows, "streaming_hyp", "hyp");
    if (s) Object.assign(v, { streaming_sentences: s.n, streaming_wer: s.a, streaming_minus_whole: s.points, streaming_minus_whole_ci95: s.ci95 });
  } else {
    const c = compare(rows, "hyp", "codec_hyp")!, r = compare(rows, "codec_hyp", "reference_hyp")!;
    Object.assign(v, { codec_wer: c.b, wer_minus_codec: c.points, wer_minus_codec_ci95: c.ci95,
      codec_minus_reference: r.points, codec_minus_reference_ci95: r.ci95 });
  }
  return v;
}

/**
 * Pool `reports` (each with its name, for errors). All must be reports of one kind (eval e2e or eval soundstorm)
 * with transcripts for each voice they score, made with the same settings. A sentence counts once per voice:
 * pooling it twice would count it double and narrow the interval falsely, so a repeat is an error, or with
 * `skipRepeats` (fresh sets drawn with different seeds can share a sentence) its first reading is kept.
 */
export function poolReports(reports: readonly { name: string; report: unknown }[], o: { skipRepeats?: boolean } = {}): PooledReport {
  if (reports.length === 0) throw new PoolError("no reports to pool");
  const kindOf = (name: string, r: unknown): Stage => {
    const x = r as { stage?: unknown; voices?: unknown } | null;
    if (!x || typeof x !== "object" || !x.voices || typeof x.voices !== "object" || !Object.hasOwn(STAGES, String(x.stage))) {
      throw new PoolError(`${name} is not an eval e2e or eval soundstorm report`);
    }
    return x.stage as Stage;
  };
  const first = reports[0];
  const stage = kindOf(first.name, first.report);
  const { settings: keys, fields } = STAGES[stage];
  const settings: Record<string, unknown> = {};
  const rows = new Map<string, Row[]>();
  const seen = new Map<string, string>();
  const skipped = new Map<string, number>();
  for (const { name, report } of reports) {
    const kind = kindOf(name, report);
    if (kind !== stage) throw new PoolError(`${name} is an eval ${kind} report, ${first.name} an eval ${stage} one`);
    const r = report as Record<string, unknown> & { voices: Record<string, { transcripts?: unknown }> };
    for (const k of keys) {
      const b = r[k];
      // an e2e --whole-only report has no text rate: its whole sentences pool with any streamed report's
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
      if (!Array.isArray(ts)) throw new PoolError(`${name} has no transcripts for ${voice} (run eval ${stage} with --transcripts)`);
      const list = rows.get(voice) ?? [];
      for (const t of ts as Record<string, unknown>[]) {
        if (typeof t.text !== "string" || typeof t.hyp !== "string" || typeof t.reference_hyp !== "string") {
          throw new PoolError(`${name}: a transcript of ${voice} lacks text, hyp or reference_hyp`);
        }
        const key = `${voice}\u0000${t.text}`;
        const before = seen.get(key);
        if (before !== undefined) {
          if (!o.skipRepeats) throw new PoolError(`${voice} speaks "${t.text}" in both ${before} and ${name} (--skip-repeats keeps the first)`);
          skipped.set(voice, (skipped.get(voice) ?? 0) + 1);
          continue;
        }
        seen.set(key, name);
        const errors: Row["errors"] = {};
        for (const f of fields) if (typeof t[f] === "string") errors[f] = errorsOf(t.text, t[f] as string).errors;
        list.push({ text: t.text, words: normalizeWords(t.text).length, errors });
      }
      rows.set(voice, list);
    }
  }
  const voices: Record<string, PooledVoice> = {};
  for (const [voice, list] of rows) {
    if (list.length === 0) continue;
    if (stage === "soundstorm" && list.some((x) => x.errors.codec_hyp === undefined)) throw new PoolError(`a soundstorm transcript of ${voice} lacks codec_hyp`);
    voices[voice] = summarize(stage, list);
    if (o.skipRepeats) voices[voice].repeats_skipped = skipped.get(voice) ?? 0;
  }
  return { stage: `${stage}-pooled`, reports: reports.map((r) => r.name), settings, voices };
}
