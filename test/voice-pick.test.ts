/** Choosing a voice's prompt (`soundstorm prepare voices`): which utterances are candidates and which sentences tune. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pickCandidates, pickVoices, tuningSentences } from "../src/eval/voice-pick.js";
import { FIXTURE_MODEL } from "./helpers.js";

const line = (id: string, speaker: string, text: string, seconds: number) => ({ id, speaker, text, phones: [["pau", 0.2], ["ax", seconds]] as [string, number][] });
const LINES = [
  line("v0_slt", "slt", "Too short to be a voice prompt at all.", 2.1),
  line("v1_slt", "slt", "A sentence of a good length for a voice prompt, spoken by flite.", 3.9),
  line("v2_awb", "awb", "A sentence of a good length for a prompt.", 4.0),
  line("v3_slt", "slt", "Far too long to be kept whole as a voice prompt, it runs on and on.", 5.5),
  line("v4_slt", "slt", "Another sentence that lasts about four seconds when flite reads it.", 4.2),
  line("v5_slt", "slt", "A third candidate of the right length here.", 3.5),
  line("v6_rms", "rms", "Six words make a tuning sentence.", 2.0),
  line("v7_rms", "rms", "Too few words.", 1.0),
];

test("candidates: the voice's own utterances of 3.4-4.6 s, in corpus order, at most n", () => {
  assert.deepEqual(pickCandidates(LINES, "slt", 8).map((u) => u.id), ["v1_slt", "v4_slt", "v5_slt"]);
  assert.deepEqual(pickCandidates(LINES, "slt", 2).map((u) => u.id), ["v1_slt", "v4_slt"]);
  assert.deepEqual(pickCandidates(LINES, "kal16", 8), []);
});

test("tuning sentences: distinct, at least six words, none spoken by a candidate", () => {
  const exclude = new Set(pickCandidates(LINES, "slt", 8).map((u) => u.text));
  // awb's sentence is not slt's candidate text, so it tunes
  assert.deepEqual(tuningSentences(LINES, exclude, 10), [
    "Too short to be a voice prompt at all.",
    "A sentence of a good length for a prompt.",
    "Far too long to be kept whole as a voice prompt, it runs on and on.",
    "Six words make a tuning sentence.",
  ]);
  assert.equal(tuningSentences(LINES, exclude, 1).length, 1);
});

const tools = ["flite", "pocketsphinx_continuous"].every((t) => spawnSync("which", [t]).status === 0);

test("prepare voices on the random-weight fixture: scores every candidate and writes the chosen prompt", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-pick-"));
  const model = join(dir, "model");
  cpSync(FIXTURE_MODEL, model, { recursive: true });
  const corpus = join(dir, "corpus");
  mkdirSync(corpus);
  writeFileSync(join(corpus, "valid.jsonl"), LINES.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const before = readFileSync(join(model, "voices/slt.json"), "utf8");
  // min gain below zero: the best candidate replaces the prompt whatever the (random-weight) scores
  const r = await pickVoices({ modelDir: model, corpusDir: corpus, voices: ["slt"], candidates: 2, sentences: 1, minGain: -1000, write: true });
  assert.deepEqual(r.voices.slt.candidates.map((c) => c.id), ["v1_slt", "v4_slt"]);
  assert.ok(r.voices.slt.candidates.every((c) => c.wer >= 0 && c.prompt_frames > 0));
  const best = r.voices.slt.candidates.reduce((a, b) => (b.wer < a.wer ? b : a));
  assert.equal(r.voices.slt.chosen, best.id);
  const after = JSON.parse(readFileSync(join(model, "voices/slt.json"), "utf8"));
  assert.notEqual(JSON.stringify(after), before.trim());
  assert.equal(after.name, "slt");
  assert.match(after.description, new RegExp(`corpus ${best.id}; chosen by prepare voices`));
  assert.equal(after.semantic.length * 2, after.acoustic.length);
});
