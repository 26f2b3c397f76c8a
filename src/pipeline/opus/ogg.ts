/**
 * Ogg encapsulation of Opus (RFC 7845 over RFC 3533): an OpusHead page, an
 * OpusTags page, then one page per audio packet so each page can be sent as
 * soon as its packet exists. Granule positions count 48 kHz samples including
 * pre-skip; the last page's granule trims the final packet's padding.
 */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

export function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  return crc >>> 0;
}

const HEADER_TYPE_CONTINUED = 1;
const HEADER_TYPE_BOS = 2;
const HEADER_TYPE_EOS = 4;

export class OggOpusWriter {
  private seq = 0;

  constructor(
    private readonly serial: number,
    private readonly preSkip: number,
    private readonly inputSampleRate: number,
  ) {}

  /** The two header pages (OpusHead with BOS, OpusTags). */
  headers(vendor = "soundstorm-server"): Uint8Array {
    const head = new Uint8Array(19);
    const dv = new DataView(head.buffer);
    head.set(new TextEncoder().encode("OpusHead"), 0);
    dv.setUint8(8, 1); // version
    dv.setUint8(9, 1); // channels
    dv.setUint16(10, this.preSkip, true);
    dv.setUint32(12, this.inputSampleRate, true);
    dv.setInt16(16, 0, true); // output gain
    dv.setUint8(18, 0); // channel mapping family
    const v = new TextEncoder().encode(vendor);
    const tags = new Uint8Array(8 + 4 + v.length + 4);
    const tv = new DataView(tags.buffer);
    tags.set(new TextEncoder().encode("OpusTags"), 0);
    tv.setUint32(8, v.length, true);
    tags.set(v, 12);
    tv.setUint32(12 + v.length, 0, true);
    return concat([this.page([head], 0, HEADER_TYPE_BOS), this.page([tags], 0, 0)]);
  }

  /** One page holding the given packets, ending at granule position `granule`. */
  audioPage(packets: Uint8Array[], granule: number, last: boolean): Uint8Array {
    return this.page(packets, granule, last ? HEADER_TYPE_EOS : 0);
  }

  private page(packets: Uint8Array[], granule: number, type: number): Uint8Array {
    const lacing: number[] = [];
    for (const p of packets) {
      let n = p.length;
      while (n >= 255) { lacing.push(255); n -= 255; }
      lacing.push(n);
    }
    if (lacing.length > 255) throw new RangeError("packets too large for one Ogg page");
    const bodyLen = packets.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(27 + lacing.length + bodyLen);
    const dv = new DataView(out.buffer);
    out.set([0x4f, 0x67, 0x67, 0x53], 0); // "OggS"
    dv.setUint8(4, 0);
    dv.setUint8(5, type & ~HEADER_TYPE_CONTINUED);
    dv.setBigUint64(6, BigInt(granule), true);
    dv.setUint32(14, this.serial, true);
    dv.setUint32(18, this.seq++, true);
    dv.setUint32(22, 0, true);
    dv.setUint8(26, lacing.length);
    out.set(lacing, 27);
    let off = 27 + lacing.length;
    for (const p of packets) { out.set(p, off); off += p.length; }
    dv.setUint32(22, oggCrc(out), true);
    return out;
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}
