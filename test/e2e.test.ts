/** End to end over a real socket: text streamed in pieces, Opus out, decoded by ffmpeg (independent libopus). */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../src/app.js";
import { OggOpusWriter, concat } from "../src/pipeline/opus/ogg.js";
import { FLAG_FIRST, FLAG_LAST } from "../src/protocol/audio-header.js";
import { ffmpegDecode, ffmpegDecodedSamples, sleep, startTestServer, TestClient } from "./helpers.js";

let app: App;
const dir = mkdtempSync(join(tmpdir(), "soundstorm-e2e-"));
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

const PIECES = ["The quick brown fox ", "jumps over the la", "zy dog, and then ", "it runs far away ", "into the green forest."];

test("text streamed in five pieces comes back as Opus whose decoded length equals frames x hop", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "raw", voice: "slt", format: "opus", latency: "low", pacing: "burst" });
  c.send({ type: "create_context", context_id: "ogg", voice: "awb", format: "ogg_opus", pacing: "burst" });
  const created = await c.nextEvent("context_created", "raw");
  const createdOgg = await c.nextEvent("context_created", "ogg");
  assert.notEqual(created.context_index, createdOgg.context_index);
  for (const p of PIECES) {
    c.send({ type: "append_text", context_id: "raw", text: p });
    c.send({ type: "append_text", context_id: "ogg", text: p });
    await sleep(60);
  }
  c.send({ type: "end", context_id: "raw" });
  c.send({ type: "end", context_id: "ogg" });
  const start = await c.nextEvent("audio_start", "raw");
  assert.equal(start.codec, "opus");
  assert.equal(start.sample_rate, 48000);
  assert.equal(start.pre_skip, 312);
  const done = await c.nextEvent("context_done", "raw", 60_000);
  const doneOgg = await c.nextEvent("context_done", "ogg", 60_000);
  assert.equal(done.cancelled, false);
  assert.ok(done.summary.chunks >= 2, `expected several chunks, got ${done.summary.chunks}`);
  assert.ok(done.summary.ttfa_ms !== null && done.summary.ttfa_ms >= 0);
  assert.ok(done.summary.rtf > 0);

  // raw packets: header sequence, timestamps and flags
  const raw = c.frames.filter((f) => f.header.contextIndex === created.context_index);
  assert.equal(raw.length, done.summary.frames_sent);
  raw.forEach((f, i) => {
    assert.equal(f.header.seq, i);
    assert.equal(f.header.timestamp48k, i * 960);
  });
  assert.ok(raw[0].header.flags & FLAG_FIRST);
  assert.ok(raw.at(-1)!.header.flags & FLAG_LAST);
  assert.equal(raw.filter((f) => f.header.flags & FLAG_LAST).length, 1);

  const hop = 320, sr = 16000;
  const expected48k = (done.summary.codec_frames * hop * 48000) / sr;
  assert.equal(done.summary.audio_samples, done.summary.codec_frames * hop);
  // wrap raw packets in Ogg (plain granules, no end trimming) and decode independently
  const w = new OggOpusWriter(7, start.pre_skip, sr);
  const pages = [w.headers(), ...raw.map((f, i) => w.audioPage([f.payload], start.pre_skip + (i + 1) * 960, i === raw.length - 1))];
  writeFileSync(join(dir, "raw.ogg"), concat(pages));
  const got = ffmpegDecodedSamples(join(dir, "raw.ogg"));
  assert.ok(Math.abs(got - expected48k) <= 960, `decoded ${got} samples, expected ${expected48k} within one codec frame (960)`);

  // Ogg pages: concatenated payloads are a playable file trimmed exactly by its granule positions
  const oggFrames = c.frames.filter((f) => f.header.contextIndex === createdOgg.context_index);
  writeFileSync(join(dir, "stream.ogg"), concat(oggFrames.map((f) => f.payload)));
  const gotOgg = ffmpegDecodedSamples(join(dir, "stream.ogg"));
  const expOgg = (doneOgg.summary.codec_frames * hop * 48000) / sr;
  assert.equal(gotOgg, expOgg, "the last page's granule trims to the exact length, none lost to pre-skip");
  // RFC 7845 granules: every decoded sample so far (960 a packet, pre-skip included); the last one trims
  const granules = oggFrames.map((f) => {
    const b = Buffer.from(f.payload);
    return Number(b.readBigInt64LE(b.lastIndexOf("OggS") + 6));  // each message ends with its audio page
  });
  granules.slice(0, -1).forEach((g, i) => assert.equal(g, 960 * (i + 1), `page ${i}`));
  assert.equal(granules.at(-1), start.pre_skip + expOgg);
  c.close();
});

test("pcm_s16le output carries exactly the generated samples", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "p", format: "pcm_s16le", pacing: "burst" });
  const created = await c.nextEvent("context_created", "p");
  c.send({ type: "append_text", context_id: "p", text: "Short and sweet." });
  c.send({ type: "end", context_id: "p" });
  const start = await c.nextEvent("audio_start", "p");
  assert.equal(start.codec, "pcm_s16le");
  assert.equal(start.pre_skip, 0);
  const done = await c.nextEvent("context_done", "p", 30_000);
  const bytes = c.frames.filter((f) => f.header.contextIndex === created.context_index).reduce((a, f) => a + f.payload.length, 0);
  assert.equal(bytes / 2, done.summary.audio_samples);
  assert.equal(done.summary.audio_samples, done.summary.codec_frames * 320);
  c.close();
});

test("speed scales the speech: half speed gives about twice the frames of the same text, seed and voice", async () => {
  const c = await TestClient.connect(app.port);
  const frames: Record<string, number> = {};
  for (const [id, speed] of [["s1", 1], ["s05", 0.5], ["s2", 2]] as const) {
    c.send({ type: "create_context", context_id: id, voice: "slt", format: "pcm_s16le", pacing: "burst", seed: 7, speed });
    await c.nextEvent("context_created", id);
    c.send({ type: "append_text", context_id: id, text: "A slower or faster reading of the same words." });
    c.send({ type: "end", context_id: id });
    frames[id] = (await c.nextEvent("context_done", id, 30_000)).summary.codec_frames;
  }
  // durations are divided by speed before rounding to whole frames, so the ratios are near 2 and 1/2
  assert.ok(frames.s05 / frames.s1 > 1.8 && frames.s05 / frames.s1 < 2.2, `speed 0.5: ${frames.s05} frames against ${frames.s1}`);
  assert.ok(frames.s2 / frames.s1 > 0.4 && frames.s2 / frames.s1 < 0.6, `speed 2: ${frames.s2} frames against ${frames.s1}`);
  c.close();
});

test("Opus output carries the same audio as pcm_s16le output (loudness contour, decoded by ffmpeg)", async () => {
  // packet counts and lengths cannot tell audio from noise: compare what is heard
  const c = await TestClient.connect(app.port);
  const text = "Opus must carry the very audio that raw samples carry, frame by frame.";
  const got: Record<string, number> = {};
  for (const [id, format] of [["pcm", "pcm_s16le"], ["ogg", "ogg_opus"]] as const) {
    c.send({ type: "create_context", context_id: id, voice: "rms", format, pacing: "burst", seed: 11 });
    got[id] = (await c.nextEvent("context_created", id)).context_index;
    c.send({ type: "append_text", context_id: id, text });
    c.send({ type: "end", context_id: id });
    await c.nextEvent("context_done", id, 60_000);
  }
  const bytes = (index: number) => concat(c.frames.filter((f) => f.header.contextIndex === index).map((f) => f.payload));
  const pcmBytes = bytes(got.pcm);
  const pcm = new Int16Array(pcmBytes.buffer, pcmBytes.byteOffset, pcmBytes.length / 2);
  writeFileSync(join(dir, "same.ogg"), bytes(got.ogg));
  const opus = ffmpegDecode(join(dir, "same.ogg"), 16000);
  assert.ok(Math.abs(opus.length - pcm.length) <= 320, `decoded ${opus.length} samples, pcm ${pcm.length}`);
  const r = pearson(levelsDb(pcm), levelsDb(opus));
  assert.ok(r > 0.8, `20 ms loudness of Opus vs pcm correlates at ${r.toFixed(3)}`);
  c.close();
});

/** Level of each 20 ms frame (dB). */
function levelsDb(x: Int16Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 320 <= x.length; i += 320) {
    let e = 1;
    for (let j = i; j < i + 320; j++) e += x[j] * x[j];
    out.push(10 * Math.log10(e / 320));
  }
  return out;
}

function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  const mean = (v: number[]) => v.slice(0, n).reduce((s, x) => s + x, 0) / n;
  const ma = mean(a), mb = mean(b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) { ab += (a[i] - ma) * (b[i] - mb); aa += (a[i] - ma) ** 2; bb += (b[i] - mb) ** 2; }
  return ab / Math.sqrt(aa * bb);
}

test("flush synthesizes buffered text before end; cancel stops a context and reports it", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "f", latency: "quality", pacing: "burst" });
  await c.nextEvent("context_created", "f");
  c.send({ type: "append_text", context_id: "f", text: "no boundary here yet" });
  c.send({ type: "flush", context_id: "f" });
  const m = await c.nextEvent("chunk_metrics", "f");
  assert.equal(m.text, "no boundary here yet");
  assert.ok(m.codec_frames > 0 && m.soundstorm_passes > 0);
  for (const k of ["g2p_ms", "t2s_ms", "soundstorm_ms", "codec_ms", "encode_ms"] as const) assert.ok(m.stages[k] >= 0);

  c.send({ type: "create_context", context_id: "x" });
  await c.nextEvent("context_created", "x");
  c.send({ type: "append_text", context_id: "x", text: "This sentence will be cancelled before it is spoken in full. ".repeat(5) });
  c.send({ type: "cancel", context_id: "x" });
  const done = await c.nextEvent("context_done", "x");
  assert.equal(done.cancelled, true);
  c.send({ type: "append_text", context_id: "x", text: "more" });
  const err = await c.nextEvent("error");
  assert.equal(err.code, "unknown_context");
  // the first context is still alive
  c.send({ type: "end", context_id: "f" });
  const fd = await c.nextEvent("context_done", "f", 30_000);
  assert.equal(fd.cancelled, false);
  c.close();
});

test("ping gets pong with the same id", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "ping", id: "abc" });
  const p = await c.nextEvent("pong");
  assert.equal(p.id, "abc");
  c.close();
});

test("realtime pacing: audio is never more than the lead (300 ms) ahead of real time", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "rt", format: "opus", latency: "low" });
  const created = await c.nextEvent("context_created", "rt");
  assert.equal(created.pacing, "realtime");
  const arrivals: number[] = [];
  c.ws.on("message", (_d, bin) => { if (bin) arrivals.push(performance.now()); });
  c.send({ type: "append_text", context_id: "rt", text: "Pacing keeps the audio close to real time, so a listener can interrupt it." });
  c.send({ type: "end", context_id: "rt" });
  const done = await c.nextEvent("context_done", "rt", 60_000);
  assert.equal(arrivals.length, done.summary.frames_sent);
  assert.ok(arrivals.length > 30);
  // frame i plays at t0 + 20 i (or later); it may arrive at most 300 ms before that (100 ms slack: the client shares
  // this process's event loop with the server, and on a loaded machine frame 0's own arrival can be seen late)
  const t0 = arrivals[0];
  for (let i = 0; i < arrivals.length; i++) assert.ok(arrivals[i] >= t0 + 20 * i - 300 - 100, `frame ${i} arrived ${(t0 + 20 * i - arrivals[i]).toFixed(0)} ms early`);
  // and the whole context took at least its audio duration minus the lead
  assert.ok(arrivals.at(-1)! - t0 >= done.summary.audio_seconds * 1000 - 300 - 40);
  c.close();
});
