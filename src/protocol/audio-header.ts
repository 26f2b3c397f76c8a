/**
 * The fixed 16-byte little-endian header in front of every binary audio message.
 *
 *  offset size field
 *  0      1    kind (1 = audio)
 *  1      1    flags (bit 0 last frame of the context, bit 1 first frame of the context, bit 2 first frame of a chunk)
 *  2      2    context index (u16)
 *  4      4    sequence number within the context (u32, from 0)
 *  8      8    timestamp: start of this frame in 48 kHz samples since the context's first frame (u64)
 */
export const AUDIO_HEADER_BYTES = 16;
export const AUDIO_KIND = 1;
export const FLAG_LAST = 1;
export const FLAG_FIRST = 2;
export const FLAG_CHUNK_START = 4;

export interface AudioHeader {
  contextIndex: number;
  seq: number;
  timestamp48k: number;
  flags: number;
}

export function encodeAudioMessage(h: AudioHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(AUDIO_HEADER_BYTES + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, AUDIO_KIND);
  dv.setUint8(1, h.flags);
  dv.setUint16(2, h.contextIndex, true);
  dv.setUint32(4, h.seq >>> 0, true);
  dv.setBigUint64(8, BigInt(h.timestamp48k), true);
  out.set(payload, AUDIO_HEADER_BYTES);
  return out;
}

export function decodeAudioMessage(buf: Uint8Array): { header: AudioHeader; payload: Uint8Array } {
  if (buf.length < AUDIO_HEADER_BYTES) throw new RangeError(`audio message of ${buf.length} bytes is shorter than its header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint8(0) !== AUDIO_KIND) throw new RangeError(`unknown binary message kind ${dv.getUint8(0)}`);
  return {
    header: {
      flags: dv.getUint8(1),
      contextIndex: dv.getUint16(2, true),
      seq: dv.getUint32(4, true),
      timestamp48k: Number(dv.getBigUint64(8, true)),
    },
    payload: buf.subarray(AUDIO_HEADER_BYTES),
  };
}
