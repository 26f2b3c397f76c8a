/**
 * 20 ms Opus packets from mono float PCM, on opusscript's libopus module directly: its JS wrapper
 * writes PCM at the wrong address (libopus.ts says how that killed a server).
 */
import { isOpusRate, libopus, MAX_PACKET_BYTES, OPUS_APPLICATION_AUDIO, OPUS_RATES, packSlots, slotBytes, type OpusHandle } from "./libopus.js";

/** OPUS_SET_BITRATE / OPUS_SET_COMPLEXITY request ids from opus_defines.h. */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;

export class OpusFrameEncoder {
  readonly frameSamples: number;
  /** Encoder lookahead in 48 kHz samples: what decoders drop from the start. */
  readonly preSkip48k: number;
  private handle: OpusHandle | null;
  private readonly pcmAddress: number;
  private readonly packetAddress: number;
  private readonly samples: Int16Array;

  constructor(readonly sampleRate: number, bitrate: number, complexity = 5) {
    if (!isOpusRate(sampleRate)) throw new Error(`Opus cannot encode ${sampleRate} Hz audio (supported: ${OPUS_RATES.join(", ")})`);
    this.frameSamples = sampleRate / 50;
    const m = libopus();
    this.handle = new m.OpusScriptHandler(sampleRate, 1, OPUS_APPLICATION_AUDIO);
    this.pcmAddress = m._malloc(slotBytes(this.frameSamples));
    this.samples = new Int16Array(this.frameSamples);
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
    packSlots(m, floatToS16(frame, this.samples), this.pcmAddress);
    const len = this.handle._encode(this.pcmAddress, this.frameSamples, this.packetAddress, this.frameSamples);
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
