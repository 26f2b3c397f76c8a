/**
 * The last stage: cuts PCM into 20 ms frames and turns each into one payload of
 * the context's output format (raw Opus packet, Ogg page, or s16le PCM).
 */
import type { OutputFormat } from "../../protocol/messages.js";
import { OggOpusWriter, concat } from "./ogg.js";
import { OpusFrameEncoder, floatToS16 } from "./opus-encoder.js";
import { Resampler } from "../audio/resample.js";
import { linearToAlaw, linearToMulaw } from "../audio/g711.js";

export interface AudioPayload {
  readonly bytes: Uint8Array;
  /** Real (unpadded) samples at the model rate this payload carries. */
  readonly samples: number;
}

export interface AudioStreamInfo {
  readonly codec: "opus" | "pcm_s16le" | "mulaw" | "alaw";
  /** Rate of the decoded audio. */
  readonly sampleRate: number;
  readonly inputSampleRate: number;
  readonly preSkip: number;
  /** Duration of one payload in 48 kHz samples. */
  readonly frameDuration48k: number;
}

export interface AudioOutput {
  readonly info: AudioStreamInfo;
  /** Add PCM; returns the payloads of every complete 20 ms frame. */
  push(pcm: Float32Array): AudioPayload[];
  /** Pad and emit what is left; the returned list is never empty and its last payload ends the stream. */
  finish(): AudioPayload[];
  dispose(): void;
}

/** Collects float PCM and hands out whole frames. */
class Framer {
  private buf: Float32Array;
  private fill = 0;

  constructor(readonly frameSamples: number) {
    this.buf = new Float32Array(frameSamples);
  }

  push(pcm: Float32Array, each: (frame: Float32Array, real: number) => void): void {
    let off = 0;
    while (off < pcm.length) {
      const n = Math.min(this.frameSamples - this.fill, pcm.length - off);
      this.buf.set(pcm.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameSamples) {
        each(this.buf, this.frameSamples);
        this.fill = 0;
      }
    }
  }

  /** Emit the partial frame zero-padded (always one frame, possibly all padding). */
  finish(each: (frame: Float32Array, real: number) => void): void {
    const real = this.fill;
    this.buf.fill(0, this.fill);
    this.fill = 0;
    each(this.buf, real);
  }
}

class OpusOutput implements AudioOutput {
  readonly info: AudioStreamInfo;
  private readonly enc: OpusFrameEncoder;
  private readonly framer: Framer;
  private readonly ogg: OggOpusWriter | null;
  /** Packets written, and the real (unpadded) input so far in 48 kHz samples. */
  private packets = 0;
  private real48k = 0;
  private headersSent = false;
  private readonly ratio: number;

  constructor(sampleRate: number, bitrate: number, complexity: number | undefined, ogg: boolean, serial: number) {
    this.enc = new OpusFrameEncoder(sampleRate, bitrate, complexity);
    this.framer = new Framer(this.enc.frameSamples);
    this.ratio = 48000 / sampleRate;
    this.info = { codec: "opus", sampleRate: 48000, inputSampleRate: sampleRate, preSkip: this.enc.preSkip48k, frameDuration48k: 960 };
    this.ogg = ogg ? new OggOpusWriter(serial, this.enc.preSkip48k, sampleRate) : null;
  }

  private wrap(packet: Uint8Array, real: number, last: boolean): AudioPayload {
    this.packets++;
    this.real48k += Math.round(real * this.ratio);
    if (!this.ogg) return { bytes: packet, samples: real };
    // RFC 7845: a page's granule counts every decoded sample so far, pre-skip included (960 a packet); only
    // the last page's is shorter, pre-skip plus the real samples, which trims the padding of the last frame
    const granule = last ? this.enc.preSkip48k + this.real48k : 960 * this.packets;
    // the header pages take sequence numbers 0 and 1: write them before the first audio page
    const headers = this.headersSent ? null : this.ogg.headers();
    this.headersSent = true;
    const page = this.ogg.audioPage([packet], granule, last);
    return { bytes: headers ? concat([headers, page]) : page, samples: real };
  }

  push(pcm: Float32Array): AudioPayload[] {
    const out: AudioPayload[] = [];
    this.framer.push(pcm, (f, real) => out.push(this.wrap(this.enc.encode(f), real, false)));
    return out;
  }

  finish(): AudioPayload[] {
    const out: AudioPayload[] = [];
    this.framer.finish((f, real) => {
      // the decoder's output lags the input by pre-skip: when the last real samples would fall past the
      // last packet, one more packet of silence carries them out
      const lagged = this.enc.preSkip48k + this.real48k + Math.round(real * this.ratio) > 960 * (this.packets + 1);
      out.push(this.wrap(this.enc.encode(f), real, !lagged));
      if (lagged) out.push(this.wrap(this.enc.encode(new Float32Array(f.length)), 0, true));
    });
    return out;
  }

  dispose(): void {
    this.enc.dispose();
  }
}

/** Linear PCM (s16le) or G.711 at any rate: resampled from the model rate when they differ. */
class PcmOutput implements AudioOutput {
  readonly info: AudioStreamInfo;
  private readonly framer: Framer;
  private readonly resampler: Resampler | null;

  constructor(inputRate: number, private readonly rate: number, private readonly encoding: "pcm_s16le" | "mulaw" | "alaw") {
    this.framer = new Framer(rate / 50);
    this.resampler = rate === inputRate ? null : new Resampler(inputRate, rate);
    this.info = { codec: encoding, sampleRate: rate, inputSampleRate: inputRate, preSkip: 0, frameDuration48k: 960 };
  }

  private bytes(f: Float32Array, real: number): AudioPayload {
    if (this.encoding === "pcm_s16le") {
      const s = floatToS16(f.subarray(0, real), new Int16Array(real));
      return { bytes: new Uint8Array(s.buffer), samples: real };
    }
    const enc = this.encoding === "mulaw" ? linearToMulaw : linearToAlaw;
    const out = new Uint8Array(real);
    for (let i = 0; i < real; i++) out[i] = enc(Math.max(-1, Math.min(1, f[i])) * 32767);
    return { bytes: out, samples: real };
  }

  push(pcm: Float32Array): AudioPayload[] {
    const out: AudioPayload[] = [];
    this.framer.push(this.resampler ? this.resampler.push(pcm) : pcm, (f, real) => out.push(this.bytes(f, real)));
    return out;
  }

  finish(): AudioPayload[] {
    const out: AudioPayload[] = [];
    if (this.resampler) this.framer.push(this.resampler.flush(), (f, real) => out.push(this.bytes(f, real)));
    this.framer.finish((f, real) => out.push(this.bytes(f, real)));
    return out;
  }

  dispose(): void {}
}

export function createAudioOutput(format: OutputFormat, sampleRate: number, opts: { bitrate: number; complexity?: number; serial: number }): AudioOutput {
  switch (format) {
    case "opus": return new OpusOutput(sampleRate, opts.bitrate, opts.complexity, false, opts.serial);
    case "ogg_opus": return new OpusOutput(sampleRate, opts.bitrate, opts.complexity, true, opts.serial);
    case "pcm_s16le": return new PcmOutput(sampleRate, sampleRate, "pcm_s16le");
    case "pcm_8000": return new PcmOutput(sampleRate, 8000, "pcm_s16le");
    case "pcm_16000": return new PcmOutput(sampleRate, 16000, "pcm_s16le");
    case "pcm_24000": return new PcmOutput(sampleRate, 24000, "pcm_s16le");
    case "pcm_48000": return new PcmOutput(sampleRate, 48000, "pcm_s16le");
    case "mulaw_8000": return new PcmOutput(sampleRate, 8000, "mulaw");
    case "alaw_8000": return new PcmOutput(sampleRate, 8000, "alaw");
  }
}
