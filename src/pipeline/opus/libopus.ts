/**
 * opusscript's libopus build (emscripten, WASM), used without opusscript's JS wrapper.
 *
 * The wrapper makes its PCM views with `HEAPU16.subarray(bytePointer, ...)`, an element index taken
 * for a byte address, so every encoder and decoder has libopus read or write PCM at twice its
 * buffer's address, over whatever lives there. With a few dozen live coders that corrupts other
 * coders' state ("Bad argument", then an abort whose rethrowing handler ends the process: a server
 * died under load this way). Its views also go stale when the WASM memory grows. The encoder and
 * decoder here pass true addresses and take a fresh view of the heap on every call.
 *
 * The C++ glue under it (OpusScriptHandler) moves PCM as *byte slots*: each byte of the
 * little-endian 16-bit samples sits in its own 16-bit slot. `_encode(addr, n, ...)` packs the 2n
 * slots at addr into n samples in place before encoding; `_decode` writes each sample as two slots.
 * `packSlots` / `unpackSlots` convert.
 */
import { createRequire } from "node:module";

export const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;
export type OpusRate = (typeof OPUS_RATES)[number];

export function isOpusRate(r: number): r is OpusRate {
  return (OPUS_RATES as readonly number[]).includes(r);
}

/** OPUS_APPLICATION_AUDIO from opus_defines.h. */
export const OPUS_APPLICATION_AUDIO = 2049;
/** Largest packet libopus writes for one frame (3 x 1276 bytes, as opusscript allocates). */
export const MAX_PACKET_BYTES = 1276 * 3;
/** Longest frame Opus codes: 120 ms at 48 kHz. */
export const MAX_FRAME_SAMPLES_48K = 5760;

/** One libopus encoder + decoder pair, as opusscript's C++ glue makes them. */
export interface OpusHandle {
  /** Packs `samples` samples from 2 x samples byte slots at slotAddress, then encodes them. */
  _encode(slotAddress: number, samples: number, packetAddress: number, frameSamples: number): number;
  _encoder_ctl(request: number, value: number): number;
  /** Writes the decoded samples as byte slots at slotAddress; returns their count or a negative libopus error. */
  _decode(packetAddress: number, packetBytes: number, slotAddress: number): number;
}

export interface OpusModule {
  OpusScriptHandler: { new (rate: number, channels: number, application: number): OpusHandle; destroy_handler(h: OpusHandle): void };
  _malloc(bytes: number): number;
  _free(address: number): void;
  /** Re-read on every use: it is replaced when the WASM memory grows. */
  HEAPU8: Uint8Array;
}

let opusModule: OpusModule | null = null;
/** The module, loaded on first use; one per process (it is stateless apart from its heap). */
export function libopus(): OpusModule {
  opusModule ??= (createRequire(import.meta.url)("opusscript/build/opusscript_native_wasm.js") as () => OpusModule)();
  return opusModule;
}

/** Bytes a byte-slot buffer of n samples takes: two 16-bit slots per sample. */
export function slotBytes(samples: number): number {
  return samples * 4;
}

/** Write samples into the byte slots at slotAddress (the layout `_encode` reads). */
export function packSlots(m: OpusModule, samples: Int16Array, slotAddress: number): void {
  const slots = new Uint16Array(m.HEAPU8.buffer, slotAddress, samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i] & 0xffff;
    slots[2 * i] = v & 0xff;
    slots[2 * i + 1] = v >> 8;
  }
}

/** Read n samples back from the byte slots `_decode` wrote at slotAddress. */
export function unpackSlots(m: OpusModule, slotAddress: number, n: number): Int16Array {
  const slots = new Uint16Array(m.HEAPU8.buffer, slotAddress, n * 2);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = (slots[2 * i + 1] << 8) | slots[2 * i];
  return out;
}
