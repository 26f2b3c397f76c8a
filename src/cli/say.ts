/** Offline synthesis of one text to an .ogg (Opus) or .wav file, through the same stages the server uses. */
import { writeFileSync } from "node:fs";
import { extname } from "node:path";
import { createAudioOutput } from "../pipeline/opus/audio-output.js";
import { TextChunker } from "../pipeline/text/chunker.js";
import { DEFAULT_CONFIG } from "../config.js";
import { concat } from "../pipeline/opus/ogg.js";
import { encodeWav } from "../pipeline/audio/wav.js";
import type { Synthesizer } from "../synth/synthesizer.js";

export interface SayOptions {
  readonly out: string;
  readonly voice: string;
  readonly seed: number;
  readonly bitrate: number;
}

export async function synthesizeToFile(synth: Synthesizer, text: string, o: SayOptions) {
  const ext = extname(o.out).toLowerCase();
  if (ext !== ".ogg" && ext !== ".opus" && ext !== ".wav") throw new Error(`unsupported output ${o.out}: use .ogg, .opus or .wav`);
  if (!synth.hasVoice(o.voice)) throw new Error(`unknown voice '${o.voice}'; available: ${synth.voices.join(", ")}`);
  const t0 = performance.now();
  const stream = synth.openStream(o.voice, o.seed);
  const chunker = new TextChunker(DEFAULT_CONFIG.chunking.quality);
  const pcmParts: Float32Array[] = [];
  for (const chunk of [...chunker.push(text), ...chunker.flush()]) {
    const r = await stream.synthesize(chunk.text);
    if (r) pcmParts.push(r.pcm);
  }
  pcmParts.push(await stream.flush());
  const pcm = new Float32Array(pcmParts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of pcmParts) { pcm.set(p, off); off += p.length; }
  const sr = synth.manifest.audio.sample_rate;
  if (ext === ".wav") {
    writeFileSync(o.out, encodeWav(pcm, sr));
  } else {
    const out = createAudioOutput("ogg_opus", sr, { bitrate: o.bitrate, serial: 1 });
    try {
      writeFileSync(o.out, concat([...out.push(pcm), ...out.finish()].map((p) => p.bytes)));
    } finally {
      out.dispose();
    }
  }
  return { audioSeconds: pcm.length / sr, generationSeconds: (performance.now() - t0) / 1000, voice: o.voice };
}
