/**
 * `soundstorm eval soundstorm`: for each base voice, flite audio of each sentence -> semantic tokenizer
 * (ground-truth units) -> SoundStorm with the voice's shipped 3 s prompt (a different utterance of the
 * same voice) -> codec decoder, all ONNX in Node; pocketsphinx WER against the text, next to the codec
 * resynthesis and flite's own audio; the eval-only speaker classifier says whose voice came out.
 * Optional: a level-1 iteration sweep, one-frame-per-pass comparison, and ~60 s long-form generation
 * through windows (WER and the voice on every 3 s crop).
 */
import { loadModelSet, type ModelSet } from "../models/model-set.js";
import { servingManifest, type ServingManifest, type VoicePrompt } from "../models/manifest.js";
import { AcousticGenerator, directPassRunner } from "../pipeline/acoustic/soundstorm.js";
import { Phonemizer } from "../pipeline/phonemes/g2p.js";
import { unitsOfAudio } from "../pipeline/semantic/units-of-audio.js";
import { generateInWindows, promptTokensOf, repeatTokens } from "../synth/windows.js";
import { transcribe } from "./asr.js";
import { differenceWithInterval, errorsOf, pairErrors, pooledWers, sentenceErrors, type PairedErrors } from "./bootstrap.js";
import { padToHop } from "./codec-eval.js";
import { BASE_VOICES, fliteSpeak } from "./flite.js";
import { PromptSentences } from "./prompt-overlap.js";
import { SpeakerClassifier } from "./speaker-id.js";
import { corpusWer } from "./wer.js";

export interface SoundStormEvalOptions {
  readonly modelDir: string;
  readonly sentences: readonly string[];
  readonly speakerClassifier: string;
  readonly voices?: readonly string[];
  /** Level-1 iteration counts to sweep (WER and time per setting), e.g. [1, 4, 8, 16]. */
  readonly sweep?: readonly number[];
  /** Also decode one utterance one frame per pass, to count passes and time against the schedule. */
  readonly oneFramePerPass?: boolean;
  /** Long-form: concatenate sentences to about this many seconds per voice and generate through windows. */
  readonly longSeconds?: number;
  /** Long-form streams per voice, each from the next sentences in order (default 1); WER and crops are pooled:
   * one 60 s stream is only ~150 words, where a few words move WER by points. */
  readonly longStreams?: number;
  /** Seed of every SoundStorm generation (1 by default). Other seeds show how much of a difference is sampling:
   * one 60 s stream's long-minus-short moves by points between nearby settings at a single seed. */
  readonly seed?: number;
  /** Also report each sentence's transcripts (SoundStorm's, the codec resynthesis's, flite's), to see which words are lost. */
  readonly transcripts?: boolean;
  readonly log?: (m: string) => void;
}

/** One sentence's transcripts: pocketsphinx on SoundStorm's audio, on the codec resynthesis, on flite's audio. */
export interface SoundStormTranscript { text: string; hyp: string; codec_hyp: string; reference_hyp: string }

interface VoiceScore {
  wer: number; codec_wer: number; reference_wer: number;
  /** 95 % paired-bootstrap interval over the sentences of wer − codec_wer (issue 4's bar's quantity). */
  wer_minus_codec_ci95: [number, number];
  /** Share of outputs the classifier assigns to exactly the prompted voice (of all 16 corpus voices). */
  speaker_accuracy: number;
  /** Share assigned to the prompted voice or one of its augmented variants (e.g. slt_a). */
  speaker_family_accuracy: number;
  utterances: number;
  /** Sentences left out for this voice because its prompt speaks them (they are not held out). */
  prompt_sentences_left_out?: number;
  transcripts?: SoundStormTranscript[];
}

export interface SoundStormEvalReport {
  stage: "soundstorm";
  model: string;
  schedule: number[];
  voices: Record<string, VoiceScore>;
  rtf: number;
  /** Present when the generations ran with a seed other than 1. */
  seed?: number;
  sweep?: { level1_iterations: number; schedule: number[]; wer: number; passes_per_utterance: number; seconds: number; rtf: number }[];
  one_frame_per_pass?: { frames: number; passes: number; seconds: number; schedule_passes: number; schedule_seconds: number };
  long?: Record<string, {
    streams: number; seconds: number; windows: number; wer: number; short_wer: number;
    /** wer − short_wer, and its 95 % paired-bootstrap interval over the streams. */
    long_minus_short: number; long_minus_short_ci95: [number, number];
    crops: number; same_voice: number; same_family: number;
  }>;
}

interface Item { voice: string; text: string; pcm: Float32Array; sem: Int32Array }

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function evalSoundStorm(o: SoundStormEvalOptions): Promise<SoundStormEvalReport> {
  const log = o.log ?? (() => {});
  const models = await loadModelSet(o.modelDir, { intraOpThreads: 2 }, ["semantic_tokenizer", "soundstorm", "codec_encoder", "codec_decoder"]);
  const spk = await SpeakerClassifier.load(o.speakerClassifier);
  try {
    const m = servingManifest(models.manifest);
    const gen = new AcousticGenerator(directPassRunner(models.graphs.soundstorm, m), m);
    const voices = o.voices ?? BASE_VOICES;
    const sr = m.audio.sample_rate;
    const seed = o.seed ?? 1;

    log(`flite + semantic tokenizer: ${o.sentences.length} sentences x ${voices.length} voices`);
    const items: Item[] = [];
    const promptSentences = new PromptSentences(new Phonemizer(m));
    const leftOut = new Map<string, number>();
    for (const voice of voices) {
      // the shipped prompt is "a different utterance of the same voice" only if the sentence is not its own
      const { sentences, skipped } = await promptSentences.without(voicePrompt(m, voice).phonemes, o.sentences);
      if (skipped) log(`  ${voice}: ${skipped} sentence(s) left out: the voice prompt speaks them`);
      leftOut.set(voice, skipped);
      for (const text of sentences) {
        const { pcm } = fliteSpeak(text, voice);
        items.push({ voice, text, pcm, sem: await units(models, pcm) });
      }
    }

    // SoundStorm with the shipped prompt of the same voice, then the codec decoder
    let genMs = 0, genAudioS = 0;
    const synth = async (it: Item, schedule?: readonly number[]) => {
      const voice = voicePrompt(m, it.voice);
      const t0 = performance.now();
      // as the server does it: the manifest's window, tail and voice-prompt settings
      const r = await generateInWindows(gen, promptTokensOf(voice, m.semantic.repeat), { semantic: new Int32Array(0), acoustic: new Int32Array(0) },
        repeatTokens(it.sem, m.semantic.repeat), {
          maxWindowFrames: m.soundstorm.max_window_frames, tailFrames: m.soundstorm.tail_frames, seed,
          ...(schedule ? { schedule } : {}),
        });
      const ms = performance.now() - t0;
      const pcm = await decodeCodes(models, m, r.codes, it.voice);
      return { pcm, ms, passes: r.passes, seconds: pcm.length / sr };
    };
    const generated: Float32Array[] = [];
    for (const [i, it] of items.entries()) {
      const r = await synth(it);
      genMs += r.ms;
      genAudioS += r.seconds;
      generated.push(r.pcm);
      if ((i + 1) % 20 === 0) log(`  soundstorm ${i + 1}/${items.length} (RTF so far ${(genMs / 1000 / genAudioS).toFixed(3)})`);
    }
    const resynth: Float32Array[] = [];
    for (const it of items) resynth.push(await roundTrip(models, m, it.pcm, it.voice));

    log(`pocketsphinx on ${items.length * 3} utterances`);
    const asrRef = transcribe(items.map((x) => x.pcm), sr);
    const asrCodec = transcribe(resynth, sr);
    const asrGen = transcribe(generated, sr);
    const report: SoundStormEvalReport = {
      stage: "soundstorm", model: m.name, schedule: [...m.decoding.schedule], voices: {}, rtf: round(genMs / 1000 / genAudioS, 4),
      ...(seed !== 1 ? { seed } : {}),
    };
    for (const v of voices) {
      const idx = items.map((x, i) => (x.voice === v ? i : -1)).filter((i) => i >= 0);
      let same = 0, family = 0;
      for (const i of idx) {
        const who = await spk.classify(generated[i]);
        if (who === v) same++;
        if (who === v || who.startsWith(`${v}_`)) family++;
      }
      const refs = idx.map((i) => items[i].text);
      report.voices[v] = {
        wer: round(corpusWer(idx.map((i) => ({ ref: items[i].text, hyp: asrGen[i].text })))),
        codec_wer: round(corpusWer(idx.map((i) => ({ ref: items[i].text, hyp: asrCodec[i].text })))),
        wer_minus_codec_ci95: differenceWithInterval(pairErrors(
          sentenceErrors(refs, idx.map((i) => asrGen[i].text)), sentenceErrors(refs, idx.map((i) => asrCodec[i].text)))).ci95,
        reference_wer: round(corpusWer(idx.map((i) => ({ ref: items[i].text, hyp: asrRef[i].text })))),
        speaker_accuracy: round(same / idx.length, 3),
        speaker_family_accuracy: round(family / idx.length, 3),
        utterances: idx.length,
        ...(leftOut.get(v) ? { prompt_sentences_left_out: leftOut.get(v)! } : {}),
      };
      log(`  ${v}: ${JSON.stringify(report.voices[v])}`);
      if (o.transcripts) {
        report.voices[v].transcripts = idx.map((i) => ({
          text: items[i].text, hyp: asrGen[i].text, codec_hyp: asrCodec[i].text, reference_hyp: asrRef[i].text,
        }));
      }
    }

    if (o.sweep?.length) {
      report.sweep = [];
      for (const it1 of o.sweep) {
        const schedule = [it1, ...m.decoding.schedule.slice(1)];
        const outs: Float32Array[] = [];
        let ms = 0, passes = 0, secs = 0;
        for (const it of items) {
          const r = await synth(it, schedule);
          outs.push(r.pcm);
          ms += r.ms;
          passes += r.passes;
          secs += r.seconds;
        }
        const hyp = transcribe(outs, sr);
        report.sweep.push({
          level1_iterations: it1, schedule, wer: round(corpusWer(items.map((x, i) => ({ ref: x.text, hyp: hyp[i].text })))),
          passes_per_utterance: round(passes / items.length, 1), seconds: round(ms / 1000, 2), rtf: round(ms / 1000 / secs, 4),
        });
        log(`  sweep ${JSON.stringify(report.sweep[report.sweep.length - 1])}`);
      }
    }

    if (o.oneFramePerPass) {
      const it = items[0];
      const frames = it.sem.length * m.semantic.repeat;
      // a schedule of `frames` steps per level commits about one frame per pass: the autoregressive-like baseline
      const perFrame = await synth(it, m.decoding.schedule.map(() => frames));
      const normal = await synth(it);
      report.one_frame_per_pass = {
        frames, passes: perFrame.passes, seconds: round(perFrame.ms / 1000, 2),
        schedule_passes: normal.passes, schedule_seconds: round(normal.ms / 1000, 3),
      };
      log(`  one frame per pass: ${JSON.stringify(report.one_frame_per_pass)}`);
    }

    if (o.longSeconds) {
      report.long = {};
      const streams = o.longStreams ?? 1;
      for (const v of voices) {
        const its = items.map((x, i) => ({ x, i })).filter(({ x }) => x.voice === v);
        // per stream: its word errors read whole (A) and as its sentences one by one (B), over the same words
        const paired: PairedErrors[] = [], crops: string[] = [];
        let seconds = 0, windows = 0, next = 0;
        let made = 0;
        for (let k = 0; k < streams; k++) {
          // the next sentences in order up to longSeconds of flite audio. No sentence goes into two streams (the
          // interval resamples streams as independent units), so later streams stop when the list runs out;
          // only a lone first stream wraps round a list shorter than longSeconds
          const picked: typeof its = [];
          let secs = 0;
          for (; secs < o.longSeconds && its.length && (k === 0 || next < its.length); next++) {
            const it = its[next % its.length];
            picked.push(it);
            secs += it.x.pcm.length / sr;
          }
          if (secs < o.longSeconds && k > 0) {
            log(`  long ${v}: ${k} streams, not ${streams}: the sentences ran out (no sentence is used in two streams)`);
            break;
          }
          made++;
          const sem = new Int32Array(picked.reduce((n, { x }) => n + x.sem.length, 0));
          let off = 0;
          for (const { x } of picked) { sem.set(x.sem, off); off += x.sem.length; }
          const tail = { semantic: new Int32Array(0), acoustic: new Int32Array(0) };
          const r = await generateInWindows(gen, promptTokensOf(voicePrompt(m, v), m.semantic.repeat), tail,
            repeatTokens(sem, m.semantic.repeat), {
              maxWindowFrames: m.soundstorm.max_window_frames, tailFrames: m.soundstorm.tail_frames, seed,
            });
          const pcm = await decodeCodes(models, m, r.codes, v);
          const whole = errorsOf(picked.map(({ x }) => x.text).join(" "), transcribe([pcm], sr)[0].text);
          const oneByOne = picked.reduce((n, { x, i }) => n + errorsOf(x.text, asrGen[i].text).errors, 0);
          paired.push({ errorsA: whole.errors, errorsB: oneByOne, words: whole.words });
          crops.push(...await spk.classifyCrops(pcm));
          seconds += pcm.length / sr;
          windows += r.windows;
        }
        const diff = differenceWithInterval(paired);
        const pooled = pooledWers(paired);
        report.long[v] = {
          streams: made, seconds: round(seconds, 1), windows,
          wer: round(pooled.a), short_wer: round(pooled.b),
          long_minus_short: diff.points, long_minus_short_ci95: diff.ci95,
          crops: crops.length, same_voice: round(crops.filter((c) => c === v).length / crops.length, 3),
          same_family: round(crops.filter((c) => c === v || c.startsWith(`${v}_`)).length / crops.length, 3),
        };
        log(`  long ${v}: ${JSON.stringify(report.long[v])}`);
      }
    }
    return report;
  } finally {
    await spk.dispose();
    await models.dispose();
  }
}

function voicePrompt(m: ServingManifest, name: string): VoicePrompt {
  const v = m.voicePrompts.get(name);
  if (!v) throw new Error(`model '${m.name}' has no voice '${name}'`);
  return v;
}

/** Ground-truth semantic units of audio (semantic rate). */
export async function units(models: ModelSet, pcm: Float32Array): Promise<Int32Array> {
  return unitsOfAudio(models.graphs.semantic_tokenizer, models.manifest, pcm);
}

/** Codes row-major [frames, levels] -> PCM, whole utterance at once, with `voice`'s codec decoder (as the server decodes it). */
export async function decodeCodes(models: ModelSet, m: ServingManifest, codes: Int32Array, voice: string): Promise<Float32Array> {
  const Q = m.codec.levels, T = codes.length / Q;
  const data = new BigInt64Array(Q * T);
  for (let t = 0; t < T; t++) for (let q = 0; q < Q; q++) data[q * T + t] = BigInt(codes[t * Q + q]);
  const r = await models.graphFor("codec_decoder", voice).run({ codes: { data, dims: [1, Q, T] } });
  return r.audio.data as Float32Array;
}

async function roundTrip(models: ModelSet, m: ServingManifest, pcm: Float32Array, voice: string): Promise<Float32Array> {
  const x = padToHop(pcm, m.audio.hop_length);
  const enc = await models.graphs.codec_encoder.run({ audio: { data: x, dims: [1, x.length] } });
  const r = await models.graphFor("codec_decoder", voice).run({ codes: enc.codes });
  return (r.audio.data as Float32Array).slice(0, pcm.length);
}
