/**
 * `npm run bench:models`: speed of the generative stages on the default model set.
 * - SoundStorm: a 10 s window after a 3 s voice prompt (real tokens from the shipped voice), default
 *   schedule, on `--threads` onnxruntime threads (default 2: this machine's cores); real-time factor
 *   = generation time / 10 s. Median of `--runs`. `--levels K`: only the K coarsest RVQ levels
 *   (config inference.acousticLevels).
 * - SoundStorm follow-on chunk: `--chunk-seconds` (default 2) of new frames after the manifest's tail
 *   (`soundstorm.tail_frames`, of which the manifest's overlap rides in the window), as every chunk of a
 *   turn but the first is generated; time per chunk and its real-time factor.
 * - Text-to-semantic on one thread: duration + token passes per sentence, time / audio seconds.
 * - `--batching`: B windows of T new frames decoded at once through the server's inference pool
 *   (one worker, one thread), batching on (B rows per call) and off (one row per call); time per
 *   window, and the throughput ratio. This is what batching can gain on the machine.
 */
import { benchArgs, checked, numberFlag, stringFlag } from "./args.js";
import { resolve } from "node:path";
import { InferencePool } from "../../src/engine/inference-pool.js";
import { loadManifest } from "../../src/models/manifest.js";
import { loadModelSet } from "../../src/models/model-set.js";
import { servingManifest } from "../../src/models/manifest.js";
import { AcousticGenerator, directPassRunner } from "../../src/pipeline/acoustic/soundstorm.js";
import { Phonemizer } from "../../src/pipeline/phonemes/g2p.js";
import { TextToSemantic } from "../../src/pipeline/semantic/text-to-semantic.js";
import { normalizeText } from "../../src/pipeline/text/normalize.js";
import { promptTokensOf } from "../../src/synth/windows.js";

const SENTENCES = [
  "The committee will meet again on Thursday to review the budget.",
  "Nobody expected the river to rise so quickly after the storm.",
  "Please remember to bring your own notebook and a pen.",
  "We walked along the quiet beach until the sun went down.",
];

const USAGE = `usage: npm run bench:models -- [--model DIR] [--threads N] [--runs N] [--seconds S] [--levels K]
       [--chunk-seconds S] [--batching]`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const values = benchArgs(USAGE, {
    model: { type: "string" }, threads: { type: "string" }, runs: { type: "string" }, seconds: { type: "string" },
    batching: { type: "boolean" }, levels: { type: "string" }, "chunk-seconds": { type: "string" },
  });
  const { runs, threads, seconds, levels, chunkSeconds } = checked(USAGE, () => ({
    runs: numberFlag(values, "runs", 5, { min: 1, integer: true }),
    threads: numberFlag(values, "threads", 2, { min: 1, integer: true }),
    seconds: numberFlag(values, "seconds", 10, { min: 1, integer: true }),
    levels: numberFlag(values, "levels", 0, { integer: true }),
    chunkSeconds: numberFlag(values, "chunk-seconds", 2, { min: 0.1 }),
  }));
  const dir = resolve(stringFlag(values, "model") ?? "models/default");
  if (values.batching) return batching(dir, runs);

  const ss = await loadModelSet(dir, { intraOpThreads: threads }, ["soundstorm"]);
  const m = servingManifest(ss.manifest);
  const gen = new AcousticGenerator(directPassRunner(ss.graphs.soundstorm, m), m, { generatedLevels: levels });
  const voice = m.voicePrompts.get([...m.voicePrompts.keys()][0])!;
  const voiceTokens = promptTokensOf(voice, m.semantic.repeat);
  const promptSem = voiceTokens.semantic;
  const frames = seconds * m.audio.frame_rate;
  // new frames: the voice's own semantic tokens tiled to the window length (realistic unit statistics)
  const semantic = new Int32Array(frames);
  for (let i = 0; i < frames; i++) semantic[i] = promptSem[i % promptSem.length];
  const times: number[] = [];
  let passes = 0;
  let last: Int32Array = new Int32Array(0);
  for (let r = 0; r <= runs; r++) {
    const t0 = performance.now();
    const out = await gen.generate({ voice: voiceTokens, tailSemantic: new Int32Array(0), tailAcoustic: new Int32Array(0), semantic, seed: r });
    if (r > 0) times.push(performance.now() - t0); // run 0 warms up (and computes the voice prompt's states, once per voice)
    passes = out.passes;
    last = out.acoustic;
  }
  const ssMs = median(times);
  console.log(JSON.stringify({
    stage: "soundstorm", model: m.name, threads, prompt_frames: voice.frames, new_frames: frames, window_frames: voice.frames + frames,
    schedule: m.decoding.schedule, generated_levels: gen.generatedLevels, passes, median_ms: Math.round(ssMs), per_pass_ms: Math.round((ssMs / passes) * 10) / 10,
    rtf: Math.round((ssMs / 1000 / seconds) * 1e4) / 1e4, runs,
  }));

  // a follow-on chunk: the window just generated supplies the tail, as the previous chunk of a turn would
  const Q = m.codec.levels;
  const tail = Math.min(m.soundstorm.tail_frames, frames);
  const chunkFrames = Math.round(chunkSeconds * m.audio.frame_rate);
  const tailSemantic = semantic.slice(frames - tail), tailAcoustic = last.slice((frames - tail) * Q);
  const chunk = Int32Array.from({ length: chunkFrames }, (_, i) => promptSem[(i + 7) % promptSem.length]);
  const chunkTimes: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const t0 = performance.now();
    await gen.generate({ voice: voiceTokens, tailSemantic, tailAcoustic, semantic: chunk, seed: r });
    if (r > 0) chunkTimes.push(performance.now() - t0);
  }
  await ss.dispose();
  const chunkMs = median(chunkTimes);
  console.log(JSON.stringify({
    stage: "soundstorm_follow_on", model: m.name, threads, tail_frames: tail, tail_overlap_frames: m.soundstorm.tail_overlap_frames ?? 0,
    tail_overlap_fraction: m.soundstorm.tail_overlap_fraction ?? 0,
    new_frames: chunkFrames, median_ms: Math.round(chunkMs), rtf: Math.round((chunkMs / 1000 / (chunkFrames / m.audio.frame_rate)) * 1e4) / 1e4, runs,
  }));

  const t2sSet = await loadModelSet(dir, { intraOpThreads: 1 }, ["t2s_duration", "t2s_tokens"]);
  const tm = servingManifest(t2sSet.manifest);
  const t2s = new TextToSemantic(t2sSet.graphs.t2s_duration, t2sSet.graphs.t2s_tokens, tm);
  const ph = new Phonemizer(tm);
  const prompt = { phonemes: ph.encode(voice.phonemes), semantic: voice.semantic };
  let ms = 0, audioS = 0;
  for (let r = 0; r <= runs; r++) {
    for (const s of SENTENCES) {
      const ids = (await ph.phonemize(normalizeText(s))).ids;
      const t0 = performance.now();
      const res = await t2s.generate(ids, prompt, r);
      if (r > 0) { ms += performance.now() - t0; audioS += res.tokens.length / tm.semantic.rate; }
    }
  }
  await t2sSet.dispose();
  console.log(JSON.stringify({ stage: "text_to_semantic", threads: 1, sentences: SENTENCES.length * runs, ms: Math.round(ms), audio_seconds: Math.round(audioS * 100) / 100, rtf: Math.round((ms / 1000 / audioS) * 1e4) / 1e4 }));
}

/** Time per window with B windows decoded together, batching on and off, on one single-threaded worker. */
async function batching(dir: string, runs: number): Promise<void> {
  const manifest = loadManifest(dir);
  const m = servingManifest(manifest);
  const voice = m.voicePrompts.get([...m.voicePrompts.keys()][0])!;
  const voiceTokens = promptTokensOf(voice, m.semantic.repeat);
  for (const enabled of [false, true]) {
    let calls = 0, callRows = 0;
    const pool = await InferencePool.start(manifest, {
      modelDir: dir, graphs: ["soundstorm"], workers: 1, intraOpThreads: 1, prompts: [voiceTokens],
      batching: { enabled, maxBatch: 8, maxBatchFrames: 100_000, maxWaitMs: 5 },
      onRun: (_g, _s, n) => { calls++; callRows += n; },
    });
    const gen = new AcousticGenerator(pool.passRunner, m);
    for (const frames of [100, 200, 350]) {
      const semantic = Int32Array.from({ length: frames }, (_, i) => voiceTokens.semantic[i % voiceTokens.semantic.length]);
      for (const rows of [1, 2, 4, 8]) {
        const times: number[] = [];
        calls = callRows = 0;
        for (let r = 0; r <= runs; r++) {
          const t0 = performance.now();
          await Promise.all(Array.from({ length: rows }, (_, k) => gen.generate({
            voice: voiceTokens, tailSemantic: new Int32Array(0), tailAcoustic: new Int32Array(0), semantic, seed: r * 8 + k,
          })));
          if (r > 0) times.push((performance.now() - t0) / rows);
        }
        console.log(JSON.stringify({ stage: "soundstorm_batching", batching: enabled, new_frames: frames, windows: rows, ms_per_window: Math.round(median(times) * 10) / 10,
          rows_per_call: Math.round((callRows / calls) * 10) / 10 }));
      }
    }
    await pool.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
