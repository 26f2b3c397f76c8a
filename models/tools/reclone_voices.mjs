// Clone a model's built-in voices again from the flite sentence each voice's description names, with the
// model's own codec encoder and semantic tokenizer (as `soundstorm prepare voices` clones its candidates).
// Used when an encoder export changed (session 31: the exact STFT front end) to see what the prompts become.
//
//   npm run build && node models/tools/reclone_voices.mjs MODEL_DIR [--write] [--voices slt,rms]
//
// Prints, per voice, whether the semantic units and phonemes came out the same and the share of acoustic
// codes per level that changed; --write replaces the voice files (description kept).
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { write: { type: "boolean" }, voices: { type: "string" } } });
if (positionals.length !== 1) throw new Error("usage: node models/tools/reclone_voices.mjs MODEL_DIR [--write] [--voices a,b]");
const dist = resolve("dist/src");
const { buildConfig } = await import(join(dist, "config.js"));
const { loadSynthesizer } = await import(join(dist, "app.js"));
const { VoiceCloner } = await import(join(dist, "synth/voice-cloner.js"));
const { voicePromptToJson } = await import(join(dist, "models/manifest.js"));
const { fliteSpeak } = await import(join(dist, "eval/flite.js"));
const { encodeWav } = await import(join(dist, "pipeline/audio/wav.js"));

const dir = resolve(positionals[0]);
const config = buildConfig({ modelDir: dir, inference: { intraOpThreads: 1 } });
const { synth, models } = await loadSynthesizer(config);
const cloner = new VoiceCloner(synth.manifest, synth.phonemizer, { intraOpThreads: 1 }, { ...config.voices, minSpeechS: 2.5 });
const Q = synth.manifest.codec.levels;
try {
  for (const v of values.voices ? values.voices.split(",") : Object.keys(synth.manifest.voices)) {
    const file = join(dir, synth.manifest.voices[v]);
    const old = JSON.parse(readFileSync(file, "utf8"));
    // descriptions read: flite voice cmu_us_<v>: "<sentence>" (...) or with single quotes
    const m = /: (?:"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(old.description ?? "");
    if (!m) { console.log(`${v}: no quoted flite sentence in its description; skipped`); continue; }
    const text = m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2];
    const { pcm, sampleRate } = fliteSpeak(text, v);
    const { prompt } = await cloner.clone({ name: v, wav: encodeWav(pcm, sampleRate), transcript: text });
    const j = voicePromptToJson({ ...prompt, name: v, description: old.description }, Q);
    const changed = Array(Q).fill(0);
    const same = j.acoustic.length === old.acoustic.length;
    if (same) for (let t = 0; t < j.acoustic.length; t++) for (let q = 0; q < Q; q++) if (j.acoustic[t][q] !== old.acoustic[t][q]) changed[q]++;
    console.log(`${v} ${JSON.stringify(text)}: semantic ${JSON.stringify(j.semantic) === JSON.stringify(old.semantic) ? "same" : "changed"}, ` +
      `phonemes ${j.phonemes === old.phonemes ? "same" : "changed"}, frames ${old.acoustic.length} -> ${j.acoustic.length}` +
      (same ? `, codes changed per level ${changed.map((c) => (c / j.acoustic.length).toFixed(2)).join(" ")}` : ""));
    if (values.write) writeFileSync(file, JSON.stringify(j) + "\n");
  }
} finally {
  await cloner.dispose();
  await models.dispose();
}
