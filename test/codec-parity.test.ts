/**
 * The committed codec encoder (ONNX, run in Node) gives the codes the trained PyTorch codec gives the same
 * audio (golden file from `sstrain.codec.golden`). Everything downstream was trained on PyTorch's codes, so an
 * export whose front end drifts (a float16 STFT basis once moved 5 % of level-1 and half of level-8 codes) is
 * caught here, not by a lower score sessions later.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fliteSpeak } from "../src/eval/flite.js";
import { loadModelSet } from "../src/models/model-set.js";

interface Golden { text: string; voices: Record<string, { samples: number; codes: number[][] }> }

test("the default codec encoder's ONNX codes equal the PyTorch codec's", async () => {
  const golden = JSON.parse(readFileSync("test/golden/codec-encoder-default.json", "utf8")) as Golden;
  const models = await loadModelSet(resolve("models/default"), { intraOpThreads: 1 }, ["codec_encoder"]);
  try {
    for (const [voice, g] of Object.entries(golden.voices)) {
      const pcm = fliteSpeak(golden.text, voice).pcm.subarray(0, g.samples);
      assert.equal(pcm.length, g.samples, `${voice}: flite gave different audio than when the golden file was made`);
      const { codes } = await models.graphs.codec_encoder.run({ audio: { data: pcm, dims: [1, pcm.length] } });
      const [, levels, frames] = codes.dims;
      assert.equal(levels, g.codes.length);
      assert.equal(frames, g.codes[0].length);
      const data = Array.from(codes.data as ArrayLike<number | bigint>, Number);
      for (let q = 0; q < levels; q++) {
        let differ = 0;
        for (let t = 0; t < frames; t++) if (data[q * frames + t] !== g.codes[q][t]) differ++;
        // float summation order may flip a near-tie, nothing more (the drifted export differed at 5-50 %)
        assert.ok(differ <= Math.ceil(0.01 * frames), `${voice} level ${q + 1}: ${differ} of ${frames} codes differ`);
      }
    }
  } finally {
    await models.dispose();
  }
});
