/** Opus packets back to 16-bit PCM, on the same libopus module as the encoder (see libopus.ts). */
import { isOpusRate, libopus, MAX_FRAME_SAMPLES_48K, MAX_PACKET_BYTES, OPUS_APPLICATION_AUDIO, slotBytes, unpackSlots, type OpusHandle } from "./libopus.js";

export class OpusFrameDecoder {
  private handle: OpusHandle | null;
  private readonly packetAddress: number;
  private readonly pcmAddress: number;
  private readonly maxSamples: number;

  constructor(readonly sampleRate: number) {
    if (!isOpusRate(sampleRate)) throw new Error(`Opus cannot decode to ${sampleRate} Hz`);
    const m = libopus();
    this.handle = new m.OpusScriptHandler(sampleRate, 1, OPUS_APPLICATION_AUDIO);
    this.maxSamples = (MAX_FRAME_SAMPLES_48K * sampleRate) / 48000;
    this.packetAddress = m._malloc(MAX_PACKET_BYTES);
    this.pcmAddress = m._malloc(slotBytes(this.maxSamples));
  }

  /** Decode one packet to mono samples (a copy). Throws on a malformed packet. */
  decode(packet: Uint8Array): Int16Array {
    if (!this.handle) throw new Error("decoder disposed");
    if (packet.length === 0 || packet.length > MAX_PACKET_BYTES) throw new Error(`Opus packet of ${packet.length} bytes`);
    const m = libopus();
    m.HEAPU8.set(packet, this.packetAddress);
    const n = this.handle._decode(this.packetAddress, packet.length, this.pcmAddress);
    if (n < 0) throw new Error(`Opus decode failed (libopus error ${n})`);
    return unpackSlots(m, this.pcmAddress, n);
  }

  dispose(): void {
    if (!this.handle) return;
    const m = libopus();
    m.OpusScriptHandler.destroy_handler(this.handle);
    m._free(this.packetAddress);
    m._free(this.pcmAddress);
    this.handle = null;
  }
}
