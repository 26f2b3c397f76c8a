import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ffprobeCodec } from "./helpers.js";
import { decodeWav } from "../src/pipeline/audio/wav.js";

const dir = mkdtempSync(join(tmpdir(), "soundstorm-cli-"));

test("`soundstorm say` writes an .ogg that ffprobe reports as Opus, and a .wav", () => {
  const ogg = join(dir, "hello.ogg");
  const r = spawnSync("node", ["bin/soundstorm.js", "say", "Hello from the command line.", "--out", ogg, "--voice", "rms"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(ffprobeCodec(ogg), "opus");
  const wav = join(dir, "hello.wav");
  const w = spawnSync("node", ["bin/soundstorm.js", "say", "Hello again.", "--out", wav], { encoding: "utf8" });
  assert.equal(w.status, 0, w.stderr);
  const { pcm, sampleRate } = decodeWav(new Uint8Array(readFileSync(wav)));
  assert.equal(sampleRate, 16000);
  assert.equal(pcm.length % 320, 0);
  assert.ok(pcm.length > 0);
});

test("`soundstorm` rejects bad usage with exit code 2 and an unknown voice with 1", () => {
  assert.equal(spawnSync("node", ["bin/soundstorm.js", "dance"]).status, 2);
  assert.equal(spawnSync("node", ["bin/soundstorm.js", "say", "hi"]).status, 2);
  // eval e2e's turn settings are checked against the protocol's ranges before any model loads
  const e2e = (...extra: string[]) => spawnSync("node", ["bin/soundstorm.js", "eval", "e2e", "--sentences", "README.md", "--json", join(dir, "e.json"), ...extra], { encoding: "utf8" });
  const speed = e2e("--speed", "3");
  assert.equal(speed.status, 2);
  assert.match(speed.stderr, /--speed must be a number from 0.5 to 2/);
  const latency = e2e("--latency", "fast");
  assert.equal(latency.status, 2);
  assert.match(latency.stderr, /--latency must be one of low, balanced, quality, got 'fast'/);
  const seed = e2e("--seed", "1.5");
  assert.equal(seed.status, 2);
  assert.match(seed.stderr, /--seed must be an integer from 0 to 4294967295, got '1.5'/);
  // the other evaluations' numbers too (a NaN once read the whole corpus or skipped the long-form part silently)
  const evalArgs = (stage: string, sentences: string, ...extra: string[]) =>
    spawnSync("node", ["bin/soundstorm.js", "eval", stage, "--sentences", sentences, "--json", join(dir, "e.json"), ...extra], { encoding: "utf8" });
  for (const [stage, flag, value] of [["codec", "--corpus-limit", "abc"], ["soundstorm", "--long-seconds", "abc"], ["soundstorm", "--sweep", "1,x"], ["soundstorm", "--seed", "1.5"]]) {
    const bad = evalArgs(stage, "README.md", flag, value);
    assert.equal(bad.status, 2, `${stage} ${flag} ${value}`);
    assert.match(bad.stderr, new RegExp(`${flag} must be`));
  }
  // a sentence file of comments and blank lines has nothing to evaluate ("#" lines are comments, not sentences)
  writeFileSync(join(dir, "comments.txt"), "\uFEFF# dev set\r\n\r\n   \r\n# another\n");
  const empty = evalArgs("e2e", join(dir, "comments.txt"));
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /has no sentences/);
  const r = spawnSync("node", ["bin/soundstorm.js", "say", "hi", "--out", join(dir, "x.ogg"), "--voice", "nobody"], { encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown voice/);
  // any argument error is a usage error: a missing value, an unchecked number
  assert.equal(spawnSync("node", ["bin/soundstorm.js", "say", "hi", "--out"]).status, 2);
  const badSeed = spawnSync("node", ["bin/soundstorm.js", "say", "hi", "--out", join(dir, "s.wav"), "--seed", "abc"], { encoding: "utf8" });
  assert.equal(badSeed.status, 2);
  assert.match(badSeed.stderr, /--seed must be an integer/);
  // nothing to say: an error, not an empty file
  const quiet = spawnSync("node", ["bin/soundstorm.js", "say", "...", "--out", join(dir, "q.wav")], { encoding: "utf8" });
  assert.equal(quiet.status, 1);
  assert.match(quiet.stderr, /nothing to say/);
  assert.equal(existsSync(join(dir, "q.wav")), false);
  const noCorpus = spawnSync("node", ["bin/soundstorm.js", "prepare", "phonemes", "--corpus", join(dir, "none")], { encoding: "utf8" });
  assert.equal(noCorpus.status, 1);
  assert.match(noCorpus.stderr, /holds no corpus/);
});
