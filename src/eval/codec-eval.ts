/**
 * `soundstorm eval codec`: flite audio of each sentence in each base voice (and optionally held-out
 * corpus utterances) -> ONNX codec encoder -> decoder in Node -> pocketsphinx, against the original.
 */
import { loadModelSet } from "../models/model-set.js";
import { transcribe } from "./asr.js";
import { readCorpusSplit } from "./corpus.js";
import { BASE_VOICES, fliteSpeak } from "./flite.js";
import { differenceWithInterval, pairErrors, sentenceErrors } from "./bootstrap.js";
import { corpusWer } from "./wer.js";

export interface CodecEvalOptions {
  readonly modelDir: string;
  readonly sentences: readonly string[];
  readonly voices?: readonly string[];
  /** Packed corpus directory: also score held-out test utterances of the base voices. */
  readonly corpusDir?: string;
  readonly corpusLimit?: number;
  readonly log?: (m: string) => void;
}

interface VoiceScore {
  wer: number; reference_wer: number;
  /** 95 % paired-bootstrap interval over the utterances of wer − reference_wer (issue 3's bar's quantity):
   * how far 30 sentences can be trusted. */
  wer_minus_reference_ci95: [number, number];
  utterances: number;
}

export interface CodecEvalReport {
  stage: "codec";
  model: string;
  voices: Record<string, VoiceScore>;
  corpus?: Record<string, VoiceScore>;
  rtf: number;
  levels_perplexity: number[];
  codebook_size: number;
  /** The voices decoded with their own codec decoder (manifest codec.voice_decoders): voice -> file. */
  voice_decoders?: Record<string, string>;
}

/** Zero-pad audio to a whole number of codec frames (the encoder wants that). */
export function padToHop(pcm: Float32Array, hop: number): Float32Array {
  const n = Math.ceil(pcm.length / hop) * hop;
  if (n === pcm.length) return pcm;
  const out = new Float32Array(n);
  out.set(pcm);
  return out;
}

export async function evalCodec(o: CodecEvalOptions): Promise<CodecEvalReport> {
  const log = o.log ?? (() => {});
  const models = await loadModelSet(o.modelDir, { intraOpThreads: 1 }, ["codec_encoder", "codec_decoder"]);
  try {
    const m = models.manifest;
    const hop = m.audio.hop_length, Q = m.codec.levels, K = m.codec.codebook_size;
    const counts = Array.from({ length: Q }, () => new Float64Array(K));
    let decodeMs = 0, audioS = 0;
    // each voice's resynthesis through the decoder the server decodes that voice with
    const roundTrip = async (pcm: Float32Array, voice: string): Promise<Float32Array> => {
      const x = padToHop(pcm, hop);
      const enc = await models.graphs.codec_encoder.run({ audio: { data: x, dims: [1, x.length] } });
      const codes = enc.codes.data as BigInt64Array;
      const T = enc.codes.dims[2];
      for (let q = 0; q < Q; q++) for (let t = 0; t < T; t++) counts[q][Number(codes[q * T + t])]++;
      const t0 = performance.now();
      const dec = await models.graphFor("codec_decoder", voice).run({ codes: { data: codes, dims: [1, Q, T] } });
      decodeMs += performance.now() - t0;
      audioS += (T * hop) / m.audio.sample_rate;
      return (dec.audio.data as Float32Array).slice(0, pcm.length);
    };

    const score = async (items: { voice: string; text: string; pcm: Float32Array }[]) => {
      const resynth: Float32Array[] = [];
      for (const [i, it] of items.entries()) {
        resynth.push(await roundTrip(it.pcm, it.voice));
        if ((i + 1) % 20 === 0) log(`  codec round trip ${i + 1}/${items.length}`);
      }
      log(`  transcribing ${items.length * 2} utterances with pocketsphinx`);
      const ref = transcribe(items.map((x) => x.pcm), m.audio.sample_rate);
      const hyp = transcribe(resynth, m.audio.sample_rate);
      const out: Record<string, VoiceScore> = {};
      for (const v of new Set(items.map((x) => x.voice))) {
        const idx = items.map((x, i) => (x.voice === v ? i : -1)).filter((i) => i >= 0);
        const refs = idx.map((i) => items[i].text);
        out[v] = {
          wer: round(corpusWer(idx.map((i) => ({ ref: items[i].text, hyp: hyp[i].text })))),
          reference_wer: round(corpusWer(idx.map((i) => ({ ref: items[i].text, hyp: ref[i].text })))),
          wer_minus_reference_ci95: differenceWithInterval(pairErrors(
            sentenceErrors(refs, idx.map((i) => hyp[i].text)), sentenceErrors(refs, idx.map((i) => ref[i].text)))).ci95,
          utterances: idx.length,
        };
      }
      return out;
    };

    const voices = o.voices ?? BASE_VOICES;
    log(`synthesizing ${o.sentences.length} sentences x ${voices.length} voices with flite`);
    const items = voices.flatMap((voice) => o.sentences.map((text) => {
      const { pcm, sampleRate } = fliteSpeak(text, voice);
      if (sampleRate !== m.audio.sample_rate) throw new Error(`flite voice ${voice} gives ${sampleRate} Hz, codec wants ${m.audio.sample_rate}`);
      return { voice, text, pcm };
    }));
    const report: CodecEvalReport = { stage: "codec", model: m.name, voices: await score(items), rtf: 0, levels_perplexity: [], codebook_size: K,
      ...(m.codec.voice_decoders ? { voice_decoders: { ...m.codec.voice_decoders } } : {}) };
    if (o.corpusDir) {
      const held = readCorpusSplit(o.corpusDir, "test", (s) => (voices as readonly string[]).includes(s), o.corpusLimit ?? 40);
      log(`held-out corpus: ${held.length} utterances`);
      report.corpus = await score(held.map((u) => ({ voice: u.speaker, text: u.text, pcm: u.pcm })));
    }
    report.rtf = round(decodeMs / 1000 / audioS, 5);
    report.levels_perplexity = counts.map((c) => {
      const n = c.reduce((a, b) => a + b, 0);
      let h = 0;
      for (const x of c) if (x > 0) h -= (x / n) * Math.log(x / n);
      return Math.round(Math.exp(h) * 10) / 10;
    });
    return report;
  } finally {
    await models.dispose();
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
