/** The Opus encoder with many live at once (a loaded server has one per context). */
import assert from "node:assert/strict";
import { test } from "node:test";
import OpusScript from "opusscript";
import { OpusFrameEncoder } from "../src/pipeline/opus/opus-encoder.js";

test("150 live encoders each encode frames that decode back to 20 ms of audio", () => {
  // opusscript's own wrapper failed here at the 80th live encoder (it wrote input at twice its
  // buffer's address), after corrupting its neighbours: a server under load died of it
  const frame = new Float32Array(320).map((_, i) => 0.3 * Math.sin(i / 5));
  const encoders = Array.from({ length: 150 }, () => new OpusFrameEncoder(16000, 32000, 5));
  const dec = new OpusScript(48000, 1);
  try {
    for (let round = 0; round < 3; round++) {
      for (const e of encoders) {
        const pkt = e.encode(frame);
        assert.ok(pkt.length > 0);
        assert.equal(dec.decode(Buffer.from(pkt)).length, 960 * 2, "one 20 ms frame at 48 kHz, 16-bit");
      }
    }
  } finally {
    for (const e of encoders) e.dispose();
    dec.delete();
  }
  const again = new OpusFrameEncoder(16000, 32000, 5);
  assert.ok(again.encode(frame).length > 0, "freed encoders leave a usable library");
  again.dispose();
  assert.throws(() => again.encode(frame), /disposed/);
});
