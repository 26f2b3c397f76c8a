/** Text-to-semantic: cumulative rounding of durations, the per-phone floor that keeps short sounds, and the unit prior. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadManifest, servingManifest, type ServingManifest, type GraphSpec } from "../src/models/manifest.js";
import type { GraphRunner, TensorValue } from "../src/models/ort.js";
import { TextToSemantic } from "../src/pipeline/semantic/text-to-semantic.js";
import { fixtureSynthesizer, fixtureWithPrior } from "./helpers.js";
import { atNaturalPace } from "../src/synth/synthesizer.js";

const fixture = servingManifest(loadManifest("models/fixture"));
const SILENT = ["<pad>", "<bos>", "<eos>", "<unk>", " ", ".", ",", "ˈ", "ˌ", "ː"];

/** Stand-in graphs (no ONNX): every symbol lasts `frames` frames; every frame's logits are flat. */
function graphs(frames: number, vocab: number): [GraphRunner, GraphRunner] {
  const spec = {} as GraphSpec;
  const duration: GraphRunner = {
    name: "t2s_duration", spec,
    async run(feeds: Record<string, TensorValue>) {
      const n = feeds.phonemes.data.length;
      return { log_durations: { data: new Float32Array(n).fill(Math.log(frames)), dims: [1, n] } };
    },
  };
  const tokens: GraphRunner = {
    name: "t2s_tokens", spec,
    async run(feeds: Record<string, TensorValue>) {
      const t = feeds.frame_phonemes.data.length;
      return { logits: { data: new Float32Array(t * vocab), dims: [1, t, vocab] } };
    },
  };
  return [duration, tokens];
}

function manifest(minPerPhone: number | undefined): ServingManifest {
  return {
    ...fixture,
    text: { ...fixture.text, silent_symbols: SILENT },
    text_to_semantic: { ...fixture.text_to_semantic, min_frames_per_phoneme: 0,
      ...(minPerPhone === undefined ? {} : { min_frames_per_phone: minPerPhone }) },
  };
}

const ids = (m: ServingManifest, syms: string[]) => Int32Array.from(syms, (s) => m.text.symbols.indexOf(s));
const prompt = { phonemes: new Int32Array([16]), semantic: new Int32Array([0]) };
// "the cat" with stress marks: 9 symbols, 6 of them phones
const SYMS = ["ð", "ə", " ", "k", "ˈ", "æ", "t", ".", "ð"];

test("without a per-phone floor, symbols of 0.35 frames mostly round to nothing", async () => {
  const m = manifest(undefined);
  const t2s = new TextToSemantic(...graphs(0.35, m.semantic.vocab_size), m);
  const { durations, tokens } = await t2s.generate(ids(m, SYMS), prompt, 1);
  // cumulative rounding of 0.35, 0.7, 1.05, ...: 3 frames for 9 symbols, so most phones get none
  assert.deepEqual([...durations], [0, 1, 0, 0, 1, 0, 0, 1, 0]);
  assert.equal(tokens.length, 3);
});

test("min_frames_per_phone gives every phone a frame and leaves silent symbols at zero", async () => {
  const m = manifest(1);
  const t2s = new TextToSemantic(...graphs(0.35, m.semantic.vocab_size), m);
  const { durations, tokens } = await t2s.generate(ids(m, SYMS), prompt, 1);
  SYMS.forEach((s, i) => {
    if (SILENT.includes(s)) assert.equal(durations[i], 0, `silent '${s}'`);
    else assert.ok(durations[i] >= 1, `phone '${s}' got ${durations[i]} frames`);
  });
  assert.equal(tokens.length, durations.reduce((a, b) => a + b, 0));
});

test("long phones keep their predicted length under the floor (the running total follows the sum)", async () => {
  const m = manifest(1);
  const t2s = new TextToSemantic(...graphs(2.5, m.semantic.vocab_size), m);
  const { durations } = await t2s.generate(ids(m, ["ð", "ə", "k", "æ"]), prompt, 1);
  assert.deepEqual([...durations], [3, 2, 3, 2]); // 2.5, 5, 7.5, 10 rounded cumulatively
});

test("a manifest asking for a per-phone floor must say which symbols are silent", () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-t2s-"));
  cpSync("models/fixture", dir, { recursive: true });
  const raw = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  raw.text_to_semantic.min_frames_per_phone = 1;
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  assert.throws(() => loadManifest(dir), /min_frames_per_phone needs text.silent_symbols/);
  raw.text.silent_symbols = [" ", "§"];
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  assert.throws(() => loadManifest(dir), /silent_symbols not in text.symbols: \["§"\]/);
  raw.text.silent_symbols = [" ", "."];
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  assert.equal(loadManifest(dir).text_to_semantic?.min_frames_per_phone, 1);
});

/** A fixture copy whose manifest names a unit prior holding `table`. */
const withPrior = (table: Float32Array, weight: number) => fixtureWithPrior("text_to_semantic", "unit_prior", table, weight);

test("the unit prior steers each frame to the units its symbol's audio mostly gives; weight 0 or no prior leaves the graph's choice", async () => {
  const S = fixture.text.symbols.length, V = fixture.semantic.vocab_size;
  const th = fixture.text.symbols.indexOf("ð"), schwa = fixture.text.symbols.indexOf("ə");
  // log P(symbol | unit): /ð/ mostly unit 7, /ə/ mostly unit 12, every other unit unlikely; other rows no prior
  const table = new Float32Array(S * V);
  for (let u = 0; u < V; u++) { table[th * V + u] = Math.log(0.01); table[schwa * V + u] = Math.log(0.01); }
  table[th * V + 7] = Math.log(0.9);
  table[schwa * V + 12] = Math.log(0.8);
  const m = servingManifest(loadManifest(withPrior(table, 1)));
  assert.equal(m.unitPrior?.length, S * V);
  const syms = ids(m, ["ð", "ə", "k"]);
  const steered = await new TextToSemantic(...graphs(2, V), m).generate(syms, prompt, 1);
  assert.deepEqual([...steered.durations], [2, 2, 2]);
  // flat logits: the prior decides /ð/ and /ə/; /k/ has no prior row, so argmax of flat logits (unit 0)
  assert.deepEqual([...steered.tokens], [7, 7, 12, 12, 0, 0]);
  const off = servingManifest(loadManifest(withPrior(table, 0)));
  assert.deepEqual([...(await new TextToSemantic(...graphs(2, V), off).generate(syms, prompt, 1)).tokens], [0, 0, 0, 0, 0, 0]);
  assert.equal(fixture.unitPrior, null);
});

test("a unit prior file of the wrong size or with values that are not log-probabilities is refused at load", () => {
  const S = fixture.text.symbols.length, V = fixture.semantic.vocab_size;
  assert.throws(() => loadManifest(withPrior(new Float32Array(S * V - 1), 1)), /unit_prior prior\.f32 has \d+ bytes, expected \d+ \(77 symbols x 32 units, float32\)/);
  const bad = new Float32Array(S * V);
  bad[5] = 0.5;
  assert.throws(() => loadManifest(withPrior(bad, 1)), /finite log-probabilities/);
  bad[5] = Number.NaN;
  assert.throws(() => loadManifest(withPrior(bad, 1)), /finite log-probabilities/);
  const dir = withPrior(new Float32Array(S * V), 1);
  const raw = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  raw.text_to_semantic.unit_prior.file = "missing.f32";
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  assert.throws(() => loadManifest(dir), /unit_prior: ENOENT/);
});

test("speed above 1 shortens speech under a per-phone floor of 2 (the floor scales, down to one frame a phone)", async () => {
  const m = manifest(2);
  const t2s = new TextToSemantic(...graphs(2.1, m.semantic.vocab_size), m);
  const syms = ids(m, ["ð", "ə", "k", "æ", "t", "s", "ɪ", "t", "s", "ð", "ɛ", "ɹ"]);
  const total = async (speed: number) => (await t2s.generate(syms, prompt, 1, speed)).durations.reduce((a, b) => a + b, 0);
  const [t1, t15, t2] = [await total(1), await total(1.5), await total(2)];
  assert.ok(t15 < t1 && t2 < t15, `${t1} > ${t15} > ${t2} frames`);
  assert.ok(t2 <= Math.ceil(0.55 * t1), `speed 2: ${t2} frames against ${t1}`);
  const fast = await t2s.generate(syms, prompt, 1, 4);
  assert.ok(fast.durations.every((d) => d >= 1), "every phone keeps a frame");
});

test("the stream's context is given to text to semantic at the voice's own pace, whatever the speed", () => {
  const f = Int32Array.from([1, 1, 2, 2, 3, 3]);
  assert.deepEqual([...atNaturalPace(f, 0.5)], [1, 2, 3]);
  assert.deepEqual([...atNaturalPace(Int32Array.from([1, 2, 3]), 2)], [1, 1, 2, 2, 3, 3]);
  assert.equal(atNaturalPace(f, 1), f);
  assert.equal(atNaturalPace(new Int32Array(0), 0.5).length, 0);
});

const fixtureSynth = fixtureSynthesizer();

test("a slowed stream's next chunk gets its context at natural pace, not slowed again", async () => {
  const synth = fixtureSynth();
  const t2s = (synth as unknown as { t2s: TextToSemantic }).t2s;
  const seen: { promptFrames: number; frames: number }[] = [];
  const original = t2s.generate.bind(t2s);
  t2s.generate = async (ph, prompt, seed, speed, run) => {
    const r = await original(ph, prompt, seed, speed, run);
    seen.push({ promptFrames: prompt.semantic.length, frames: r.tokens.length });
    return r;
  };
  try {
    const run = async (speed: number) => {
      seen.length = 0;
      const s = synth.openStream(synth.voices[0], 3);
      await s.synthesize("First part of the turn.", { speed });
      await s.synthesize("And the second part.", { speed });
      return seen.map((x) => x.promptFrames);
    };
    const natural = await run(1);
    const slow = await run(0.5);
    // the voice's frames plus the previous chunk's: at speed 0.5 those were made twice as long, and are given back at natural pace
    assert.equal(slow[0], natural[0], "the voice prompt alone at first");
    assert.ok(Math.abs(slow[1] - natural[1]) <= 2, `second chunk's context ${slow[1]} frames at speed 0.5, ${natural[1]} at speed 1`);
  } finally {
    t2s.generate = original;
  }
});
