/** `soundstorm say --server URL`: the same .ogg/.wav output, synthesized by a running server through the client SDK. */
import { writeFileSync } from "node:fs";
import { extname } from "node:path";
import { encodeWav } from "../pipeline/audio/wav.js";
import { connect } from "../sdk/node.js";

export interface RemoteSayOptions {
  readonly url: string;
  readonly out: string;
  readonly voice?: string;
  readonly seed?: number;
  readonly apiKey?: string;
}

export async function synthesizeRemote(text: string, o: RemoteSayOptions) {
  const ext = extname(o.out).toLowerCase();
  if (ext !== ".ogg" && ext !== ".opus" && ext !== ".wav") throw new Error(`unsupported output ${o.out}: use .ogg, .opus or .wav`);
  const client = await connect({ url: o.url, reconnect: false, ...(o.apiKey ? { apiKey: o.apiKey } : {}) });
  try {
    if (o.voice !== undefined && !client.hello.voices.includes(o.voice)) {
      throw new Error(`unknown voice '${o.voice}'; available: ${client.hello.voices.join(", ")}`);
    }
    // ogg_opus: the payloads of a context concatenated are an .ogg file; wav: 16-bit PCM at the model rate
    const ctx = client.createContext({
      format: ext === ".wav" ? "pcm_s16le" : "ogg_opus", pacing: "burst", latency: "quality",
      ...(o.voice !== undefined ? { voice: o.voice } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    const parts: Uint8Array[] = [];
    ctx.on("audio", (f) => parts.push(f.payload));
    ctx.append(text);
    ctx.end();
    const done = await ctx.done;
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) { bytes.set(p, off); off += p.length; }
    if (ext === ".wav") {
      if (!ctx.audioStart) throw new Error("the server sent no audio");
      const s16 = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
      const pcm = Float32Array.from(s16, (v) => v / 32768);
      writeFileSync(o.out, encodeWav(pcm, ctx.audioStart.sample_rate));
    } else {
      writeFileSync(o.out, bytes);
    }
    return {
      audioSeconds: done.summary.audio_seconds, generationSeconds: done.summary.generation_seconds, ttfaMs: done.summary.ttfa_ms,
      voice: ctx.info?.voice ?? "", model: client.hello.model, fixture: client.hello.model_kind === "fixture",
    };
  } finally {
    await client.close();
  }
}
