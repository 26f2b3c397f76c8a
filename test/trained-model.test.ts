/**
 * The committed default model set (models/default) is trained and complete, and behaves:
 * - its SoundStorm ONNX, decoded by the TypeScript decoder, equals the Python reference decoder token
 *   for token in greedy mode (golden file from models/tools/soundstorm_golden.py --ckpt);
 * - a voice cloned over POST /v1/voices from flite audio of a corpus voice is recognised as that voice by
 *   the evaluation speaker classifier (models/eval/) on what the server then says with it.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { App } from "../src/app.js";
import { SpeakerClassifier } from "../src/eval/speaker-id.js";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { AcousticGenerator, directPassRunner } from "../src/pipeline/acoustic/soundstorm.js";
import { Resampler } from "../src/pipeline/audio/resample.js";
import { goldenRequest, modelAlone, referenceSoundStorm, startTestServer, type GoldenCase } from "./helpers.js";

const DEFAULT_MODEL = resolve("models/default");
const work = mkdtempSync(join(tmpdir(), "soundstorm-trained-"));
let app: App;
let spk: SpeakerClassifier;

before(async () => {
  app = await startTestServer({ modelDir: DEFAULT_MODEL, voices: { dir: join(work, "voices") } });
  spk = await SpeakerClassifier.load(resolve("models/eval/speaker_classifier.json"));
});
after(async () => {
  await app?.close();
  await spk?.dispose();
  rmSync(work, { recursive: true, force: true });
});

test("models/default is a trained, complete set with the four flite voices", () => {
  const m = servingManifest(loadManifest(DEFAULT_MODEL));
  assert.equal(m.kind, "trained");
  for (const v of ["slt", "awb", "rms", "kal16"]) assert.ok(m.voicePrompts.has(v), `voice ${v}`);
  // the text-to-semantic unit prior ships with the model (session 15), loaded and checked with the manifest
  assert.equal(m.unitPrior?.length, m.text!.symbols.length * m.semantic!.vocab_size);
  assert.equal(m.text_to_semantic?.min_frames_per_phone, 2);
  for (const g of ["soundstorm", "t2s_duration", "t2s_tokens", "codec_decoder", "codec_encoder", "semantic_tokenizer"] as const) {
    assert.ok(m.graphs[g], `graph ${g}`);
  }
});

test("trained SoundStorm: TypeScript greedy decoding equals the Python reference token for token", async () => {
  const golden = JSON.parse(readFileSync("test/golden/soundstorm-default.json", "utf8")) as {
    cases: GoldenCase[];
  };
  // the served graph is int8 (quantized after export); parity is checked on the float16 graph it came from
  const { manifest: m, graph } = await referenceSoundStorm(DEFAULT_MODEL);
  assert.ok(m.graphs.soundstorm.reference_file, "the manifest names the float graph the served one was quantized from");
  try {
    const gen = new AcousticGenerator(directPassRunner(graph, m), modelAlone(m));
    for (const [i, c] of golden.cases.entries()) {
      const r = await gen.generate(goldenRequest(c));
      assert.equal(r.passes, c.passes);
      const diff = Array.from(r.acoustic).reduce((n, v, j) => n + (v !== c.expected[j] ? 1 : 0), 0);
      assert.equal(diff, 0, `case ${i}: ${diff} of ${r.acoustic.length} tokens differ`);
    }
  } finally {
    await graph.dispose();
  }
});

test("a voice cloned from flite 'awb' audio speaks as awb (evaluation speaker classifier)", async () => {
  const wavPath = join(work, "awb.wav");
  const transcript = "Four score and seven years ago our fathers brought forth a new nation.";
  const f = spawnSync("flite", ["-voice", "awb", "-t", transcript, "-o", wavPath], { encoding: "utf8" });
  assert.equal(f.status, 0, f.stderr);
  const base = `http://127.0.0.1:${app.port}`;
  const made = await fetch(`${base}/v1/voices?${new URLSearchParams({ name: "my-awb", transcript })}`, {
    method: "POST", headers: { "content-type": "audio/wav" }, body: new Uint8Array(readFileSync(wavPath)),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const res = await fetch(`${base}/v1/audio/speech`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "soundstorm", voice: "my-awb", response_format: "pcm",
      input: "We will meet again tomorrow morning at the old station. Bring the maps and a warm coat, because the wind is cold and the road is long." }),
  });
  assert.equal(res.status, 200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const pcm24 = new Float32Array(bytes.length >> 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < pcm24.length; i++) pcm24[i] = dv.getInt16(2 * i, true) / 32768;
  const pcm16 = new Resampler(24000, 16000).push(pcm24);
  assert.ok(pcm16.length >= 2 * spk.card.crop_samples, `only ${(pcm16.length / 16000).toFixed(2)} s of audio`);
  assert.equal(await spk.classify(pcm16), "awb");
  const crops = await spk.classifyCrops(pcm16);
  const awb = crops.filter((c) => c === "awb").length;
  assert.ok(awb / crops.length >= 0.5, `classifier heard ${crops.join(", ")}`);
});
