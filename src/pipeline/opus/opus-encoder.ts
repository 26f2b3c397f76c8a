/**
 * 20 ms Opus packets from mono float PCM, via opusscript's libopus build (WASM).
 *
 * opusscript's own wrapper is not used for encoding: it makes its PCM view with
 * `HEAPU16.subarray(bytePointer, ...)`, an element index taken for a byte address, so every encoder
 * writes its input at twice its buffer's address, over whatever lives there. With a few dozen live
 * encoders that corrupts other encoders' state ("Encode error: Bad argument", then an abort whose
 * rethrowing handler ends the process: a server died under load this way). Its views also go stale
 * when the WASM memory grows. Here each call writes through a fresh view at the true address.
 */
import { createRequire } from "node:module";

const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;
type OpusRate = (typeof OPUS_RATES)[number];
/** OPUS_SET_BITRATE / OPUS_SET_COMPLEXITY request ids from opus_defines.h. */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;

export function isOpusRate(r: number): r is OpusRate {
  return (OPUS_RATES as readonly number[]).includes(r);
}

/** OPUS_APPLICATION_AUDIO from opus_defines.h. */
const OPUS_APPLICATION_AUDIO = 2049;
/** Largest packet libopus writes for one frame (3 x 1276 bytes, as opusscript allocates). */
const MAX_PACKET_BYTES = 1276 * 3;

interface EncoderHandle {
  _encode(pcmAddress: number, pcmBytes: number, packetAddress: number, frameSamples: number): number;
  _encoder_ctl(request: number, value: number): number;
}

/** The emscripten module of opusscript's libopus build (one per process, loaded on first use). */
interface OpusModule {
  OpusScriptHandler: { new (rate: number, channels: number, application: number): EncoderHandle; destroy_handler(h: EncoderHandle): void };
  _malloc(bytes: number): number;
  _free(address: number): void;
  /** Re-read on every use: it is replaced when the WASM memory grows. */
  HEAPU8: Uint8Array;
}

let opusModule: OpusModule | null = null;
function libopus(): OpusModule {
  opusModule ??= (createRequire(import.meta.url)("opusscript/build/opusscript_native_wasm.js") as () => OpusModule)();
  return opusModule;
}

export class OpusFrameEncoder {
  readonly frameSamples: number;
  /** Encoder lookahead in 48 kHz samples: what decoders drop from the start. */
  readonly preSkip48k: number;
  private handle: EncoderHandle | null;
  private readonly pcmAddress: number;
  private readonly packetAddress: number;

  constructor(readonly sampleRate: number, bitrate: number, complexity = 5) {
    if (!isOpusRate(sampleRate)) throw new Error(`Opus cannot encode ${sampleRate} Hz audio (supported: ${OPUS_RATES.join(", ")})`);
    this.frameSamples = sampleRate / 50;
    const m = libopus();
    this.handle = new m.OpusScriptHandler(sampleRate, 1, OPUS_APPLICATION_AUDIO);
    this.pcmAddress = m._malloc(this.frameSamples * 2);
    this.packetAddress = m._malloc(MAX_PACKET_BYTES);
    for (const [request, value] of [[OPUS_SET_BITRATE, bitrate], [OPUS_SET_COMPLEXITY, complexity]]) {
      const rc = this.handle._encoder_ctl(request, value);
      if (rc < 0) { this.dispose(); throw new Error(`Opus encoder setting ${request} = ${value} failed (${rc})`); }
    }
    // libopus' lookahead is Fs/400 + Fs/250 samples (2.5 ms + 4 ms), i.e. 312 at 48 kHz
    this.preSkip48k = 312;
  }

  /** Encode exactly one frame of frameSamples float samples in [-1, 1]. */
  encode(frame: Float32Array): Uint8Array {
    if (!this.handle) throw new Error("encoder disposed");
    if (frame.length !== this.frameSamples) throw new Error(`Opus frame must be ${this.frameSamples} samples, got ${frame.length}`);
    const m = libopus();
    floatToS16(frame, new Int16Array(m.HEAPU8.buffer, this.pcmAddress, this.frameSamples));
    const len = this.handle._encode(this.pcmAddress, this.frameSamples * 2, this.packetAddress, this.frameSamples);
    if (len < 0) throw new Error(`Opus encode failed (libopus error ${len})`);
    return m.HEAPU8.slice(this.packetAddress, this.packetAddress + len);
  }

  dispose(): void {
    if (!this.handle) return;
    const m = libopus();
    m.OpusScriptHandler.destroy_handler(this.handle);
    m._free(this.pcmAddress);
    m._free(this.packetAddress);
    this.handle = null;
  }
}

export function floatToS16(src: Float32Array, dst: Int16Array): Int16Array {
  for (let i = 0; i < src.length; i++) {
    const s = Math.max(-1, Math.min(1, src[i]));
    dst[i] = Math.round(s * 32767);
  }
  return dst;
}
