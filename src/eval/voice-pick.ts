/**
 * Choosing a base voice's prompt (`soundstorm prepare voices`). A voice is one 3-4 s utterance, and
 * which utterance matters: across eight validation utterances of slt, end-to-end WER on the same
 * sentences ran from 27 to 37 % (BENCHMARKS.md). Candidates are validation-split sentences of the
 * voice, spoken by flite and cloned exactly as a user's upload is (VoiceCloner); each is scored by
 * end-to-end WER (pocketsphinx, whole-sentence turns) on other validation sentences, never on an
 * evaluation set. The model's prompt is replaced only by a candidate better by `minGain` points, so
 * that noise alone (about 3 points on ~200 words) does not churn the shipped voices.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadSynthesizer } from "../app.js";
import { buildConfig, NO_LOAD_SHEDDING } from "../config.js";
import { createMetrics } from "../metrics.js";
import { voicePromptToJson } from "../models/manifest.js";
import { encodeWav } from "../pipeline/audio/wav.js";
import { VoiceCloner } from "../synth/voice-cloner.js";
import { runTurn, transcribedWer } from "./e2e-eval.js";
import { BASE_VOICES, fliteSpeak } from "./flite.js";

export interface VoicePickOptions {
  readonly modelDir: string;
  /** Corpus built by sstrain.corpus: its valid.jsonl gives candidates and tuning sentences. */
  readonly corpusDir: string;
  readonly voices?: readonly string[];
  /** Candidate utterances per voice (default 8). */
  readonly candidates?: number;
  /** Tuning sentences (default 24). */
  readonly sentences?: number;
  /** WER points a candidate must gain over the model's prompt to replace it (default 3). */
  readonly minGain?: number;
  /** Write the chosen prompts into the model's voice files (default: only report). */
  readonly write?: boolean;
  readonly log?: (m: string) => void;
}

export interface CandidateScore {
  readonly id: string;
  readonly text: string;
  readonly prompt_frames: number;
  readonly wer: number;
}

export interface VoicePick {
  readonly current_wer: number;
  readonly candidates: CandidateScore[];
  /** Corpus id of the chosen candidate, or null when the model's prompt stays. */
  readonly chosen: string | null;
}

export interface VoicePickReport {
  readonly model: string;
  readonly tuning_sentences: string[];
  readonly min_gain: number;
  readonly voices: Record<string, VoicePick>;
}

interface CorpusLine { id: string; speaker: string; text: string; phones: [string, number][] }

/** Candidates: the voice's first validation utterances lasting 3.4-4.6 s in flite (the prompt keeps up to 4 s of speech). */
export function pickCandidates(lines: readonly CorpusLine[], voice: string, n: number): CorpusLine[] {
  return lines.filter((u) => u.speaker === voice && u.phones.length > 0 && u.phones.at(-1)![1] >= 3.4 && u.phones.at(-1)![1] <= 4.6).slice(0, n);
}

/** Tuning sentences: distinct validation sentences of at least 6 words that no candidate speaks. */
export function tuningSentences(lines: readonly CorpusLine[], exclude: ReadonlySet<string>, n: number): string[] {
  return [...new Set(lines.map((u) => u.text))].filter((t) => !exclude.has(t) && t.split(/\s+/).length >= 6).slice(0, n);
}

export async function pickVoices(o: VoicePickOptions): Promise<VoicePickReport> {
  const log = o.log ?? (() => {});
  const minGain = o.minGain ?? 3;
  const lines = readFileSync(join(o.corpusDir, "valid.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as CorpusLine);
  const voices = o.voices ?? BASE_VOICES;
  const cands = new Map(voices.map((v) => [v, pickCandidates(lines, v, o.candidates ?? 8)]));
  const tune = tuningSentences(lines, new Set([...cands.values()].flat().map((u) => u.text)), o.sentences ?? 24);
  if (tune.length === 0) throw new Error(`no tuning sentences in ${o.corpusDir}/valid.jsonl`);

  // candidates are scored as served to one listener, whatever the machine's load: no load shedding
  const config = buildConfig({ modelDir: o.modelDir, inference: { intraOpThreads: 2, ...NO_LOAD_SHEDDING } });
  const { synth, models } = await loadSynthesizer(config);
  const cloner = new VoiceCloner(synth.manifest, synth.phonemizer, { intraOpThreads: 2 }, { ...config.voices, minSpeechS: 2.5 });
  const metrics = createMetrics();
  const sr = synth.manifest.audio.sample_rate;
  const wer = async (voice: string): Promise<number> => {
    const pcms: Float32Array[] = [];
    for (const text of tune) pcms.push((await runTurn(synth, config, metrics, voice, [text], 0)).pcm);
    return transcribedWer(tune, pcms, sr).wer;
  };
  const report: VoicePickReport = { model: synth.manifest.name, tuning_sentences: tune, min_gain: minGain, voices: {} };
  try {
    for (const v of voices) {
      if (!synth.hasVoice(v)) throw new Error(`model has no voice '${v}'`);
      const list = cands.get(v)!;
      if (list.length === 0) throw new Error(`no validation utterance of '${v}' lasts 3.4-4.6 s`);
      const current = await wer(v);
      log(`${v}: the model's prompt ${current} % on ${tune.length} sentences; ${list.length} candidates`);
      const scores: CandidateScore[] = [];
      let best: { score: CandidateScore; json: ReturnType<typeof voicePromptToJson> } | null = null;
      for (const [k, u] of list.entries()) {
        const name = `${v}-pick${k}`;
        const { pcm, sampleRate } = fliteSpeak(u.text, v);
        const { prompt } = await cloner.clone({ name, wav: encodeWav(pcm, sampleRate), transcript: u.text });
        synth.addVoice(prompt, { decoderOf: v });   // scored through the decoder v is served with
        try {
          const score = { id: u.id, text: u.text, prompt_frames: prompt.frames, wer: await wer(name) };
          scores.push(score);
          log(`  ${k + 1}/${list.length} ${u.id}: ${score.wer} %`);
          if (!best || score.wer < best.score.wer) {
            const description = `flite voice cmu_us_${v}: ${JSON.stringify(u.text)} (${(prompt.frames / synth.manifest.audio.frame_rate).toFixed(2)} s, corpus ${u.id}; ` +
              `chosen by prepare voices: ${score.wer} % end-to-end WER on ${tune.length} validation sentences against ${current} % for the previous prompt)`;
            best = { score, json: voicePromptToJson({ ...prompt, name: v, description }, synth.manifest.codec.levels) };
          }
        } finally {
          synth.removeVoice(name);
        }
      }
      const chosen = best && current - best.score.wer >= minGain ? best : null;
      report.voices[v] = { current_wer: current, candidates: scores, chosen: chosen?.score.id ?? null };
      log(chosen ? `${v}: ${chosen.score.id} (${chosen.score.wer} %) replaces the model's prompt (${current} %)` : `${v}: the model's prompt stays (best candidate ${best?.score.wer} %, gain under ${minGain})`);
      if (chosen && o.write) {
        const file = join(synth.manifest.dir, synth.manifest.voices[v]);
        writeFileSync(file, JSON.stringify(chosen.json) + "\n");
        log(`  wrote ${file}`);
      }
    }
    return report;
  } finally {
    await cloner.dispose();
    await models.dispose();
  }
}
