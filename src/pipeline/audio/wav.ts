/** Minimal RIFF/WAVE (PCM s16le mono) writer and reader. */
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

/** Reads mono or multi-channel s16le WAV; returns channel 0 as float. */
export function decodeWav(buf: Uint8Array): { pcm: Float32Array; sampleRate: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (off: number) => String.fromCharCode(...buf.subarray(off, off + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("not a RIFF/WAVE file");
  let off = 12;
  let sampleRate = 0, channels = 0, bits = 0;
  while (off + 8 <= buf.length) {
    const id = tag(off);
    const size = dv.getUint32(off + 4, true);
    if (id === "fmt ") {
      const fmt = dv.getUint16(off + 8, true);
      channels = dv.getUint16(off + 10, true);
      sampleRate = dv.getUint32(off + 12, true);
      bits = dv.getUint16(off + 22, true);
      if (fmt !== 1 || bits !== 16) throw new Error(`only 16-bit PCM WAV is supported (format ${fmt}, ${bits} bits)`);
    } else if (id === "data") {
      if (!sampleRate) throw new Error("WAV data before fmt chunk");
      const n = Math.floor(Math.min(size, buf.length - off - 8) / (2 * channels));
      const pcm = new Float32Array(n);
      for (let i = 0; i < n; i++) pcm[i] = dv.getInt16(off + 8 + i * 2 * channels, true) / 32768;
      return { pcm, sampleRate };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error("WAV has no data chunk");
}
