/** The Opus encoder and decoder with many live at once (a loaded server has an encoder per context, a load tester a decoder per stream). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAudioOutput } from "../src/pipeline/opus/audio-output.js";
import { concat, OggOpusWriter } from "../src/pipeline/opus/ogg.js";
import { OpusFrameDecoder } from "../src/pipeline/opus/opus-decoder.js";
import { OpusFrameEncoder } from "../src/pipeline/opus/opus-encoder.js";

const RATE = 16000;

function zeroCrossings(x: Int16Array): number {
  let n = 0;
  for (let i = 1; i < x.length; i++) if ((x[i - 1] < 0) !== (x[i] < 0)) n++;
  return n;
}

test("a tone encoded here decodes with ffmpeg (an independent libopus) to the same tone", () => {
  // guards the encoder's input layout: a wrong one still yields valid packets, of noise
  const enc = new OpusFrameEncoder(RATE, 32000, 5);
  const w = new OggOpusWriter(1, enc.preSkip48k, RATE);
  const pages = [w.headers()];
  const frames = 50, hz = 440;
  for (let i = 0; i < frames; i++) {
    const frame = new Float32Array(320).map((_, j) => 0.3 * Math.sin((2 * Math.PI * hz * (i * 320 + j)) / RATE));
    pages.push(w.audioPage([enc.encode(frame)], enc.preSkip48k + (i + 1) * 960, i === frames - 1));
  }
  enc.dispose();
  const dir = mkdtempSync(join(tmpdir(), "opus-tone-"));
  try {
    writeFileSync(join(dir, "tone.ogg"), concat(pages));
    const r = spawnSync("ffmpeg", ["-v", "error", "-i", join(dir, "tone.ogg"), "-f", "s16le", "-ac", "1", "-ar", String(RATE), "-"], { maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, r.stderr.toString());
    const pcm = new Int16Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length / 2);
    const mid = pcm.subarray(RATE * 0.2, RATE * 0.8);
    const crossingsPerS = zeroCrossings(mid) / 0.6;
    assert.ok(Math.abs(crossingsPerS - 2 * hz) < 20, `decoded ${crossingsPerS.toFixed(0)} zero crossings/s, expected ${2 * hz}`);
    const rms = Math.sqrt(mid.reduce((a, v) => a + v * v, 0) / mid.length) / 32767;
    assert.ok(Math.abs(rms - 0.3 / Math.SQRT2) < 0.05, `decoded rms ${rms.toFixed(3)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("150 live encoder/decoder pairs each carry their own tone through", () => {
  // opusscript's own wrapper failed here at the 80th live encoder (it wrote input at twice its
  // buffer's address), after corrupting its neighbours: a server under load died of it. Each
  // stream gets its own pitch, so audio leaking between coders shows as a wrong pitch.
  const streams = Array.from({ length: 150 }, (_, k) => ({
    hz: 200 + 10 * k, enc: new OpusFrameEncoder(RATE, 32000, 5), dec: new OpusFrameDecoder(RATE), t: 0,
  }));
  try {
    for (let round = 0; round < 6; round++) {
      for (const s of streams) {
        const frame = new Float32Array(320).map(() => 0.3 * Math.sin((2 * Math.PI * s.hz * s.t++) / RATE));
        const pcm = s.dec.decode(s.enc.encode(frame));
        assert.equal(pcm.length, 320, "one 20 ms frame");
        if (round === 5) {
          // a tone of f Hz crosses zero 2f times a second: 0.04 f times in 20 ms
          assert.ok(Math.abs(zeroCrossings(pcm) - 0.04 * s.hz) <= 3, `stream at ${s.hz} Hz decoded with ${zeroCrossings(pcm)} zero crossings`);
          const rms = Math.sqrt(pcm.reduce((a, v) => a + v * v, 0) / pcm.length) / 32767;
          assert.ok(Math.abs(rms - 0.3 / Math.SQRT2) < 0.06, `stream at ${s.hz} Hz decoded at rms ${rms.toFixed(3)}`);
        }
      }
    }
  } finally {
    for (const s of streams) { s.enc.dispose(); s.dec.dispose(); }
  }
  const again = new OpusFrameEncoder(RATE, 32000, 5);
  assert.ok(again.encode(new Float32Array(320)).length > 0, "freed coders leave a usable library");
  again.dispose();
  assert.throws(() => again.encode(new Float32Array(320)), /disposed/);
});

test("the decoder refuses a malformed packet with an error, and keeps working", () => {
  const dec = new OpusFrameDecoder(48000);
  const enc = new OpusFrameEncoder(48000, 32000, 5);
  try {
    assert.throws(() => dec.decode(new Uint8Array(0)), /0 bytes/);
    // TOC byte of code 3 with a frame count of 0: invalid
    assert.throws(() => dec.decode(new Uint8Array([0x03, 0x00])), /libopus error/);
    assert.equal(dec.decode(enc.encode(new Float32Array(960))).length, 960);
  } finally {
    dec.dispose();
    enc.dispose();
  }
});

test("ogg_opus output: pages numbered 0, 1, 2, ... with the two header pages first (RFC 3533 and 7845)", () => {
  const out = createAudioOutput("ogg_opus", RATE, { bitrate: 24000, serial: 7 });
  const tone = new Float32Array(RATE / 2).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / RATE));
  const bytes = Buffer.from(concat([...out.push(tone.subarray(0, 100)), ...out.push(tone.subarray(100)), ...out.finish()].map((p) => p.bytes)));
  out.dispose();
  const pages: { seq: number; body: string }[] = [];
  for (let at = bytes.indexOf("OggS"); at >= 0; at = bytes.indexOf("OggS", at + 4)) {
    const segments = bytes[at + 26];
    pages.push({ seq: bytes.readUInt32LE(at + 18), body: bytes.toString("latin1", at + 27 + segments, at + 27 + segments + 8) });
  }
  assert.ok(pages.length > 3);
  assert.deepEqual(pages.map((p) => p.seq), pages.map((_, i) => i));
  assert.deepEqual(pages.slice(0, 2).map((p) => p.body), ["OpusHead", "OpusTags"]);
});
