/** Evaluations leave out, per voice, a sentence its prompt speaks: that sentence is not held out for it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { PromptSentences } from "../src/eval/prompt-overlap.js";
import { loadManifest, servingManifest } from "../src/models/manifest.js";
import { Phonemizer } from "../src/pipeline/phonemes/g2p.js";

test("a voice's prompt sentence is left out for that voice only, whatever its punctuation", async () => {
  const m = servingManifest(loadManifest(resolve("models/default")));
  const overlap = new PromptSentences(new Phonemizer(m));
  const other = "Open the front door and let the cat come inside.";
  // slt's prompt says "Above all, we must meet the challenges of inflation as a united people."
  const own = "Above all we must meet the challenges of inflation as a united people!";
  const slt = await overlap.without(m.voicePrompts.get("slt")!.phonemes, [other, own]);
  assert.deepEqual(slt, { sentences: [other], skipped: 1 });
  const awb = await overlap.without(m.voicePrompts.get("awb")!.phonemes, [other, own]);
  assert.deepEqual(awb, { sentences: [other, own], skipped: 0 });
});
