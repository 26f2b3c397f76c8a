/** 20 ms Opus packets from mono float PCM, via opusscript (libopus compiled to WASM). */
import OpusScript from "opusscript";

const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;
type OpusRate = (typeof OPUS_RATES)[number];
/** OPUS_SET_BITRATE / OPUS_SET_COMPLEXITY request ids from opus_defines.h. */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;

export function isOpusRate(r: number): r is OpusRate {
  return (OPUS_RATES as readonly number[]).includes(r);
}

export class OpusFrameEncoder {
  readonly frameSamples: number;
  /** Encoder lookahead in 48 kHz samples: what decoders drop from the start. */
  readonly preSkip48k: number;
  private enc: OpusScript | null;
  private readonly pcm16: Int16Array;

  constructor(readonly sampleRate: number, bitrate: number, complexity = 5) {
    if (!isOpusRate(sampleRate)) throw new Error(`Opus cannot encode ${sampleRate} Hz audio (supported: ${OPUS_RATES.join(", ")})`);
    this.frameSamples = sampleRate / 50;
    this.enc = new OpusScript(sampleRate, 1, OpusScript.Application.AUDIO);
    this.enc.encoderCTL(OPUS_SET_BITRATE, bitrate);
    this.enc.encoderCTL(OPUS_SET_COMPLEXITY, complexity);
    // libopus' lookahead is Fs/400 + Fs/250 samples (2.5 ms + 4 ms), i.e. 312 at 48 kHz
    this.preSkip48k = 312;
    this.pcm16 = new Int16Array(this.frameSamples);
  }

  /** Encode exactly one frame of frameSamples float samples in [-1, 1]. */
  encode(frame: Float32Array): Uint8Array {
    if (!this.enc) throw new Error("encoder disposed");
    if (frame.length !== this.frameSamples) throw new Error(`Opus frame must be ${this.frameSamples} samples, got ${frame.length}`);
    floatToS16(frame, this.pcm16);
    const pkt = this.enc.encode(Buffer.from(this.pcm16.buffer, this.pcm16.byteOffset, this.pcm16.byteLength), this.frameSamples);
    return new Uint8Array(pkt);
  }

  dispose(): void {
    this.enc?.delete();
    this.enc = null;
  }
}

export function floatToS16(src: Float32Array, dst: Int16Array): Int16Array {
  for (let i = 0; i < src.length; i++) {
    const s = Math.max(-1, Math.min(1, src[i]));
    dst[i] = Math.round(s * 32767);
  }
  return dst;
}
