/** `soundstorm eval codec` mechanics on the random-weight fixture (its codec speaks noise: only the report's shape,
 * counts and intervals are checked, never its WER), and on a copy whose awb decodes with its own decoder. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { evalCodec } from "../src/eval/codec-eval.js";
import { FIXTURE_MODEL, fixtureCopy } from "./helpers.js";

const tools = ["flite", "pocketsphinx_batch"].every((t) => spawnSync("which", [t]).status === 0);
const sentences = ["The cat sat on the mat.", "Open the front door.", "It is cold today."];

test("eval codec: per voice WER, flite's WER and the paired interval of their difference", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const r = await evalCodec({ modelDir: FIXTURE_MODEL, sentences, voices: ["slt", "rms"] });
  assert.deepEqual(Object.keys(r.voices), ["slt", "rms"]);
  for (const v of Object.values(r.voices)) {
    assert.equal(v.utterances, sentences.length);
    const [lo, hi] = v.wer_minus_reference_ci95;
    const d = v.wer - v.reference_wer;
    assert.ok(lo <= d + 0.02 && d - 0.02 <= hi, `${d} outside ${lo}..${hi}`);
  }
  assert.equal(r.levels_perplexity.length, 4);
  assert.equal(r.voice_decoders, undefined);
});

test("eval codec runs on a set whose awb has its own decoder and reports which voices do", { skip: tools ? false : "needs flite and pocketsphinx" }, async () => {
  const dir = fixtureCopy((raw) => { raw.codec.voice_decoders = { awb: "codec_decoder_voice.onnx" }; });
  const own = await evalCodec({ modelDir: dir, sentences, voices: ["awb"] });
  assert.deepEqual(own.voice_decoders, { awb: "codec_decoder_voice.onnx" });
  assert.equal(own.voices.awb.utterances, sentences.length);
});
