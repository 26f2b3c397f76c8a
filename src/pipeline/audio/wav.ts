/** Minimal RIFF/WAVE writer (PCM s16le mono) and reader (integer or float PCM, any channel count). */
import { floatToS16 } from "../opus/opus-encoder.js";

export function encodeWav(pcm: Float32Array, sampleRate: number): Uint8Array {
  const data = floatToS16(pcm, new Int16Array(pcm.length));
  const out = new Uint8Array(44 + data.byteLength);
  const dv = new DataView(out.buffer);
  const ascii = (off: number, s: string) => { for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i); };
  ascii(0, "RIFF"); dv.setUint32(4, 36 + data.byteLength, true); ascii(8, "WAVE");
  ascii(12, "fmt "); dv.setUint32(16, 16, true); dv.setUint16(20, 1, true); dv.setUint16(22, 1, true);
  dv.setUint32(24, sampleRate, true); dv.setUint32(28, sampleRate * 2, true); dv.setUint16(32, 2, true); dv.setUint16(34, 16, true);
  ascii(36, "data"); dv.setUint32(40, data.byteLength, true);
  out.set(new Uint8Array(data.buffer), 44);
  return out;
}

export interface DecodeWavOptions {
  /** Average all channels (default: channel 0 only). */
  readonly downmix?: boolean;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Reads integer PCM (8, 16, 24 or 32 bits) or 32-bit float WAV, plain or WAVE_FORMAT_EXTENSIBLE,
 * any number of channels; returns channel 0 (or the mean of all channels with `downmix`) as float.
 * A data chunk longer than the file (a streamed WAV) is read up to the end of the file.
 */
export function decodeWav(buf: Uint8Array, opts: DecodeWavOptions = {}): { pcm: Float32Array; sampleRate: number; channels: number } {
  if (buf.length < 12) throw new Error("not a RIFF/WAVE file");
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (off: number) => String.fromCharCode(...buf.subarray(off, off + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("not a RIFF/WAVE file");
  let off = 12;
  let sampleRate = 0, channels = 0, bits = 0, format = 0;
  while (off + 8 <= buf.length) {
    const id = tag(off);
    const size = dv.getUint32(off + 4, true);
    if (id === "fmt ") {
      if (size < 16 || off + 24 > buf.length) throw new Error("WAV fmt chunk is truncated");
      format = dv.getUint16(off + 8, true);
      channels = dv.getUint16(off + 10, true);
      sampleRate = dv.getUint32(off + 12, true);
      bits = dv.getUint16(off + 22, true);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40 || off + 34 > buf.length) throw new Error("WAV extensible fmt chunk is truncated");
        format = dv.getUint16(off + 32, true); // first two bytes of the sub-format GUID
      }
      const ok = (format === WAVE_FORMAT_PCM && [8, 16, 24, 32].includes(bits)) || (format === WAVE_FORMAT_FLOAT && bits === 32);
      if (!ok) throw new Error(`only integer PCM (8/16/24/32-bit) or 32-bit float WAV is supported (format ${format}, ${bits} bits)`);
      if (channels < 1) throw new Error("WAV has no channels");
      if (sampleRate < 1) throw new Error("WAV sample rate is 0");
    } else if (id === "data") {
      if (!sampleRate) throw new Error("WAV data before fmt chunk");
      const bytes = bits / 8;
      const stride = bytes * channels;
      const base = off + 8;
      const n = Math.floor(Math.min(size, buf.length - base) / stride);
      const read = (p: number): number => {
        switch (bits) {
          case 8: return (dv.getUint8(p) - 128) / 128;
          case 16: return dv.getInt16(p, true) / 32768;
          case 24: return ((dv.getUint8(p) | (dv.getUint8(p + 1) << 8) | (dv.getInt8(p + 2) << 16))) / 8388608;
          default: return format === WAVE_FORMAT_FLOAT ? dv.getFloat32(p, true) : dv.getInt32(p, true) / 2147483648;
        }
      };
      const mix = opts.downmix ? channels : 1;
      const pcm = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let c = 0; c < mix; c++) acc += read(base + i * stride + c * bytes);
        // float WAVs can hold NaN or infinity (which would poison every model input downstream) and values
        // past full scale (clipped here, as any player would)
        if (!Number.isFinite(acc)) throw new Error(`WAV sample ${i} is not a finite number`);
        pcm[i] = Math.max(-1, Math.min(1, acc / mix));
      }
      return { pcm, sampleRate, channels };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error("WAV has no data chunk");
}
