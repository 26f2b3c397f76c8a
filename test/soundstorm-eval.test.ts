/** `soundstorm eval soundstorm` long-form mechanics on the random-weight fixture (it speaks noise: only the report's
 * shape and counts are checked, never its WER). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { evalSoundStorm } from "../src/eval/soundstorm-eval.js";
import { DEFAULT_SPEAKER_CLASSIFIER } from "../src/eval/speaker-id.js";
import { FIXTURE_MODEL } from "./helpers.js";

const tools = ["flite", "pocketsphinx_batch"].every((t) => spawnSync("which", [t]).status === 0);

test("eval soundstorm --long-streams: long-form streams per voice, no sentence in two of them, pooled", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const sentences = ["The cat sat on the mat.", "Open the front door.", "We walked along the beach.", "It is cold today.",
    "She reads a book.", "The bus was late.", "Close the window."];
  // ten 2 s streams cannot be cut from seven sentences without reusing one: fewer streams are made
  const r = await evalSoundStorm({ modelDir: FIXTURE_MODEL, sentences, voices: ["slt"], speakerClassifier: DEFAULT_SPEAKER_CLASSIFIER, longSeconds: 2, longStreams: 10 });
  const long = r.long?.slt;
  assert.ok(long);
  assert.ok(long.streams >= 2 && long.streams <= 7, `${long.streams} streams`);
  assert.ok(long.windows >= long.streams, `${long.windows} windows for ${long.streams} streams`);
  // each stream is at least 2 s of flite audio's units; crops are 3 s of each stream
  assert.ok(long.seconds >= 2 * long.streams - 1, `${long.seconds} s`);
  assert.ok(long.crops >= long.streams, `${long.crops} crops`);
  assert.ok(long.same_voice >= 0 && long.same_voice <= 1);
  assert.ok(Number.isFinite(long.wer) && Number.isFinite(long.short_wer));
  // the same streams' words, so the pooled difference is the difference of the pooled rates (to rounding)
  assert.ok(Math.abs(long.long_minus_short - (long.wer - long.short_wer)) < 0.02, `${long.long_minus_short} vs ${long.wer} - ${long.short_wer}`);
  const [lo, hi] = long.long_minus_short_ci95;
  assert.ok(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi, `${lo}..${hi}`);
});

test("eval soundstorm --transcripts reports each sentence's SoundStorm, codec and flite transcripts", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const sentences = ["The cat sat on the mat.", "Open the front door."];
  const r = await evalSoundStorm({ modelDir: FIXTURE_MODEL, sentences, voices: ["awb"], speakerClassifier: DEFAULT_SPEAKER_CLASSIFIER, transcripts: true });
  const v = r.voices.awb;
  assert.equal(v.utterances, 2);
  assert.ok(v.transcripts);
  assert.deepEqual(v.transcripts.map((t) => t.text), sentences);
  for (const t of v.transcripts) {
    assert.equal(typeof t.hyp, "string");
    assert.equal(typeof t.codec_hyp, "string");
    // flite's own audio of a plain sentence is recognized, so the reference transcript is not empty
    assert.ok(t.reference_hyp.split(" ").length >= 2, `flite transcript '${t.reference_hyp}'`);
  }
  // issue 4's quantity with its paired interval, which holds the pooled difference itself
  const [lo, hi] = v.wer_minus_codec_ci95;
  assert.ok(lo <= v.wer - v.codec_wer + 0.02 && v.wer - v.codec_wer - 0.02 <= hi, `${v.wer} - ${v.codec_wer} outside ${lo}..${hi}`);
  // without the option the report stays as it was
  const plain = await evalSoundStorm({ modelDir: FIXTURE_MODEL, sentences: sentences.slice(0, 1), voices: ["awb"], speakerClassifier: DEFAULT_SPEAKER_CLASSIFIER });
  assert.equal(plain.voices.awb.transcripts, undefined);
});
