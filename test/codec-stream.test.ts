/** Chunked codec decoding equals whole-utterance decoding (runs on the fixture graphs, random weights). */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { loadModelSet, type ModelSet } from "../src/models/model-set.js";
import { CodecStreamDecoder } from "../src/pipeline/codec/stream-decoder.js";
import { Rng } from "../src/util/rng.js";

let models: ModelSet;
before(async () => { models = await loadModelSet(resolve("models/fixture"), { intraOpThreads: 1 }, ["codec_decoder"]); });
after(async () => { await models.dispose(); });

test("decoding codes in uneven chunks gives the same PCM as one pass, with no boundary clicks", async () => {
  const m = models.manifest;
  const Q = m.codec.levels, frames = 157;
  const rng = new Rng(5);
  const codes = Int32Array.from({ length: frames * Q }, () => Math.floor(rng.next() * m.codec.codebook_size));
  const whole = new CodecStreamDecoder(models.graphs.codec_decoder, m);
  const ref = Float32Array.from([...(await whole.push(codes)), ...(await whole.flush())]);
  assert.equal(ref.length, frames * m.audio.hop_length);

  const chunked = new CodecStreamDecoder(models.graphs.codec_decoder, m);
  const parts: number[] = [];
  let f = 0;
  for (const n of [1, 3, 20, 2, 50, 7, 74]) {
    parts.push(...(await chunked.push(codes.slice(f * Q, (f + n) * Q))));
    f += n;
  }
  assert.equal(f, frames);
  parts.push(...(await chunked.flush()));
  assert.equal(parts.length, ref.length);
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(parts[i] - ref[i]));
  assert.ok(maxDiff < 1e-5, `max abs difference ${maxDiff}`);
});
