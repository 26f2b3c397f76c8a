/**
 * OpenAI-compatible speech synthesis (POST /v1/audio/speech): the same stages
 * as a WebSocket context, with the whole input given at once and the audio
 * streamed back with chunked transfer as each chunk is synthesized.
 */
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { ServerConfig } from "../config.js";
import { ServiceError } from "../errors.js";
import { createAudioOutput, type AudioOutput } from "../pipeline/opus/audio-output.js";
import { TextChunker } from "../pipeline/text/chunker.js";
import { isSpeakable, normalizeText } from "../pipeline/text/normalize.js";
import type { OutputFormat } from "../protocol/messages.js";
import type { Synthesizer } from "../synth/synthesizer.js";
import { playbackDeadline } from "../session/clock.js";

export const SpeechRequest = Type.Object({
  model: Type.String({ maxLength: 100 }),
  input: Type.String({ minLength: 1, maxLength: 4096 }),
  voice: Type.String({ minLength: 1, maxLength: 64 }),
  response_format: Type.Optional(Type.Union(["opus", "wav", "pcm"].map((f) => Type.Literal(f)))),
  speed: Type.Optional(Type.Number({ minimum: 0.25, maximum: 4 })),
  instructions: Type.Optional(Type.String({ maxLength: 4096 })),
}, { additionalProperties: false });
export type SpeechRequest = Static<typeof SpeechRequest>;

const check = TypeCompiler.Compile(SpeechRequest);

export interface SpeechFormat {
  readonly contentType: string;
  readonly output: OutputFormat;
  /** Bytes that precede the audio (the WAV header). */
  readonly header: (rate: number) => Uint8Array;
}

/** A WAV header for a stream of unknown length (sizes at their maximum, as streaming WAV writers do). */
function streamingWavHeader(rate: number): Uint8Array {
  const h = new Uint8Array(44);
  const dv = new DataView(h.buffer);
  const ascii = (o: number, s: string) => { for (let i = 0; i < s.length; i++) h[o + i] = s.charCodeAt(i); };
  ascii(0, "RIFF"); dv.setUint32(4, 0xffffffff, true); ascii(8, "WAVE");
  ascii(12, "fmt "); dv.setUint32(16, 16, true); dv.setUint16(20, 1, true); dv.setUint16(22, 1, true);
  dv.setUint32(24, rate, true); dv.setUint32(28, rate * 2, true); dv.setUint16(32, 2, true); dv.setUint16(34, 16, true);
  ascii(36, "data"); dv.setUint32(40, 0xffffffff, true);
  return h;
}

const FORMATS: Record<"opus" | "wav" | "pcm", SpeechFormat> = {
  opus: { contentType: "audio/ogg", output: "ogg_opus", header: () => new Uint8Array(0) },
  wav: { contentType: "audio/wav", output: "pcm_24000", header: (rate) => streamingWavHeader(rate) },
  // OpenAI's "pcm" is raw 24 kHz 16-bit little-endian mono
  pcm: { contentType: "audio/pcm", output: "pcm_24000", header: () => new Uint8Array(0) },
};

export function parseSpeechRequest(body: string, synth: Synthesizer): { req: SpeechRequest; format: SpeechFormat } {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new ServiceError("invalid_json", (e as Error).message);
  }
  if (!check.Check(v)) {
    const e = check.Errors(v).First();
    throw new ServiceError("invalid_message", `${e?.path || "/"}: ${e?.message}`);
  }
  const req = v as SpeechRequest;
  if (!synth.hasVoice(req.voice)) throw new ServiceError("unknown_voice", `${req.voice}; available: ${synth.voices.join(", ")}`);
  // refused before any byte of the response (and before the key's budget is charged): nothing would be said
  if (!isSpeakable(normalizeText(req.input))) throw new ServiceError("no_speakable_text", "the input has no letters or digits to say");
  return { req, format: FORMATS[(req.response_format ?? "opus") as keyof typeof FORMATS] };
}

/** Where the response body goes. */
export interface BodySink {
  write(bytes: Uint8Array): void;
  /** Resolves once the client has taken what was written (or is gone): the next phrase waits for it, so a
   * client that stops reading holds at most one phrase of audio in the server. */
  writable(): Promise<void>;
}

/** Synthesize and hand each piece of the response body to `body` as soon as it exists. */
export async function streamSpeech(synth: Synthesizer, config: ServerConfig, req: SpeechRequest, format: SpeechFormat,
  body: BodySink, signal: AbortSignal): Promise<{ audioSeconds: number }> {
  const out: AudioOutput = createAudioOutput(format.output, synth.manifest.audio.sample_rate, { bitrate: config.opusBitrate, complexity: config.opusComplexity, serial: 1 });
  try {
    const head = format.header(out.info.sampleRate);
    if (head.length) body.write(head);
    const stream = synth.openStream(req.voice, config.inference.defaultSeed);
    const chunker = new TextChunker(config.chunking.low);
    const sr = synth.manifest.audio.sample_rate;
    let samples = 0;
    let firstAudioAt: number | null = null;
    const emit = (pcm: Float32Array) => {
      if (pcm.length && firstAudioAt === null) firstAudioAt = performance.now();
      samples += pcm.length;
      for (const p of out.push(pcm)) body.write(p.bytes);
    };
    // Scheduled like a WebSocket context, by when its listener runs out of audio (performance.now() ms): a
    // long request must not hold the inference pool while live streams wait.
    const deadline = () => playbackDeadline(firstAudioAt, samples, sr, performance.now());
    for (const chunk of [...chunker.push(req.input), ...chunker.flush()]) {
      await body.writable();
      if (signal.aborted) break;
      const r = await stream.synthesize(chunk.text, { signal, speed: req.speed ?? 1, priority: deadline() });
      if (r) emit(r.pcm);
    }
    if (!signal.aborted) {
      emit(await stream.flush({ signal, priority: deadline() }));
      for (const p of out.finish()) body.write(p.bytes);
    }
    return { audioSeconds: samples / sr };
  } finally {
    out.dispose();
  }
}
