/** The model contract: full fixture manifest, codec-only manifests, and loud failures. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { loadModelSet } from "../src/models/model-set.js";

test("the fixture manifest is a serving manifest with four voices", () => {
  const m = servingManifest(loadManifest("models/fixture"));
  assert.equal(m.kind, "fixture");
  assert.deepEqual([...m.voicePrompts.keys()].sort(), ["awb", "kal16", "rms", "slt"]);
  assert.equal(m.decoding.schedule.length, m.codec.levels);
});

test("a codec-only manifest loads for codec work but cannot serve, and says why", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-manifest-"));
  const full = JSON.parse(readFileSync("models/fixture/model.json", "utf8"));
  for (const f of ["codec_encoder.onnx", "codec_decoder.onnx"]) cpSync(join("models/fixture", f), join(dir, f));
  const codecOnly = { format_version: 1, name: "codec-only", kind: "trained", description: "test", audio: full.audio, codec: full.codec,
    graphs: { codec_encoder: full.graphs.codec_encoder, codec_decoder: full.graphs.codec_decoder }, voices: {} };
  writeFileSync(join(dir, "model.json"), JSON.stringify(codecOnly));
  const m = loadManifest(dir);
  assert.throws(() => servingManifest(m), /cannot serve speech/);
  const set = await loadModelSet(dir, { intraOpThreads: 1 }, ["codec_decoder"]);
  await set.dispose();
  await assert.rejects(loadModelSet(dir, { intraOpThreads: 1 }, ["soundstorm"]), /has no 'soundstorm' graph/);
});

test("a manifest whose graph names disagree with the ONNX file is refused at load", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-manifest-"));
  cpSync("models/fixture", dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  m.graphs.codec_decoder.inputs.codes.name = "tokens";
  writeFileSync(join(dir, "model.json"), JSON.stringify(m));
  await assert.rejects(loadModelSet(dir, { intraOpThreads: 1 }, ["codec_decoder"]), /manifest says inputs \[tokens\]/);
  m.decoding.schedule = [1, 1];
  writeFileSync(join(dir, "model.json"), JSON.stringify(m));
  assert.throws(() => loadManifest(dir), /schedule has 2 entries for 4 levels/);
});
