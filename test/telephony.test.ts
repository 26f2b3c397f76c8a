/** Telephony and resampled PCM outputs: resampler, G.711, and the formats end to end. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../src/app.js";
import { Resampler } from "../src/pipeline/audio/resample.js";
import { alawToLinear, linearToAlaw, linearToMulaw, mulawToLinear } from "../src/pipeline/audio/g711.js";
import { startTestServer, TestClient } from "./helpers.js";

test("resampler: exact length, chunking-invariant, clean sine", () => {
  const N = 16000;
  const x = Float32Array.from({ length: N }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
  for (const rate of [8000, 24000, 48000]) {
    const whole = new Resampler(16000, rate);
    const w = [...whole.push(x), ...whole.flush()];
    assert.equal(w.length, (N * rate) / 16000);
    const chunked = new Resampler(16000, rate);
    const c: number[] = [];
    for (let i = 0; i < N; i += 333) c.push(...chunked.push(x.subarray(i, Math.min(N, i + 333))));
    c.push(...chunked.flush());
    assert.deepEqual(c, w);
    let err = 0, en = 0;
    for (let i = rate / 4; i < (3 * rate) / 4; i++) {
      const ideal = 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate);
      err += (w[i] - ideal) ** 2;
      en += ideal ** 2;
    }
    assert.ok(10 * Math.log10(en / err) > 60, `SNR at ${rate}`);
  }
});

test("G.711: reference code words and bounded round-trip error", () => {
  assert.equal(linearToMulaw(0), 0xff);
  assert.equal(linearToAlaw(0), 0xd5);
  assert.equal(linearToMulaw(32767), 0x80);
  assert.equal(linearToMulaw(-32768), 0x00);
  for (let s = -32768; s < 32768; s += 11) {
    const tol = Math.max(40, Math.abs(s) * 0.07);
    assert.ok(Math.abs(mulawToLinear(linearToMulaw(s)) - s) <= tol, `mu-law ${s}`);
    assert.ok(Math.abs(alawToLinear(linearToAlaw(s)) - s) <= tol, `A-law ${s}`);
  }
});

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

test("mulaw_8000, alaw_8000 and pcm_48000 contexts: 20 ms frames at the right rate, decodable by ffmpeg", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-tel-"));
  const c = await TestClient.connect(app.port);
  for (const [id, format, bytesPerFrame, ff] of [["mu", "mulaw_8000", 160, ["-f", "mulaw", "-ar", "8000"]], ["a", "alaw_8000", 160, ["-f", "alaw", "-ar", "8000"]], ["p48", "pcm_48000", 1920, ["-f", "s16le", "-ar", "48000"]]] as const) {
    c.send({ type: "create_context", context_id: id, format, pacing: "burst" });
    const created = await c.nextEvent("context_created", id);
    c.send({ type: "append_text", context_id: id, text: "Your call is important to us." });
    c.send({ type: "end", context_id: id });
    const start = await c.nextEvent("audio_start", id);
    const rate = Number(format.split("_")[1]);
    assert.equal(start.sample_rate, rate);
    const done = await c.nextEvent("context_done", id, 30_000);
    const frames = c.frames.filter((f) => f.header.contextIndex === created.context_index);
    for (const f of frames.slice(0, -1)) assert.equal(f.payload.length, bytesPerFrame);
    const total = frames.reduce((a, f) => a + f.payload.length, 0) / (bytesPerFrame / (rate / 50));
    assert.equal(total, Math.round((done.summary.audio_samples * rate) / 16000));
    const raw = join(dir, `${id}.raw`);
    writeFileSync(raw, Buffer.concat(frames.map((f) => Buffer.from(f.payload))));
    const r = spawnSync("ffmpeg", ["-v", "error", ...ff, "-ac", "1", "-i", raw, "-f", "s16le", "-ar", String(rate), "-"], { maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(r.stdout.length / 2, total);
  }
  c.close();
});
