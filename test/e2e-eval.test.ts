/** `soundstorm eval e2e` mechanics on the random-weight fixture (it speaks noise, so only the report's shape is checked). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { evalE2E } from "../src/eval/e2e-eval.js";
import { FIXTURE_MODEL } from "./helpers.js";

const tools = ["flite", "pocketsphinx_batch"].every((t) => spawnSync("which", [t]).status === 0);

test("eval e2e --transcripts reports each sentence's three transcripts per voice", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const sentences = ["The cat sat on the mat.", "Open the front door."];
  const r = await evalE2E({ modelDir: FIXTURE_MODEL, sentences, voices: ["rms"], streaming: true, transcripts: true });
  const v = r.voices.rms;
  assert.equal(v.utterances, 2);
  assert.ok(v.transcripts);
  assert.deepEqual(v.transcripts.map((t) => t.text), sentences);
  for (const t of v.transcripts) {
    assert.equal(typeof t.hyp, "string");
    assert.equal(typeof t.streaming_hyp, "string");
    // flite's own audio of a plain sentence is recognized, so the reference transcript is not empty
    assert.ok(t.reference_hyp.split(" ").length >= 2, `flite transcript '${t.reference_hyp}'`);
  }
  // every turn is cut into at least one chunk, and the chunks are the sentence's words in order
  assert.ok(v.streaming_chunks_per_turn !== undefined && v.streaming_chunks_per_turn >= 1);
  for (const t of v.transcripts) assert.equal(t.streaming_chunks?.join(" "), t.text);
  assert.equal(r.clock, "virtual");
  // the bars' differences come with paired-bootstrap intervals over the sentences
  for (const ci of [v.wer_minus_reference_ci95, v.streaming_minus_whole_ci95]) {
    assert.ok(ci && Number.isFinite(ci[0]) && Number.isFinite(ci[1]) && ci[0] <= ci[1], `${ci}`);
  }
  const plain = await evalE2E({ modelDir: FIXTURE_MODEL, sentences: sentences.slice(0, 1), voices: ["rms"], streaming: false });
  assert.equal(plain.voices.rms.transcripts, undefined);
  assert.equal(plain.voices.rms.streaming_wer, undefined);
  assert.equal(plain.voices.rms.streaming_chunks_per_turn, undefined);
  assert.equal(plain.voices.rms.streaming_minus_whole_ci95, undefined);
  // whole-sentence turns run on the same (virtual) clock: their chunks no longer move with the machine's load
  assert.equal(plain.clock, "virtual");
});
