/**
 * codec.voice_decoders (mechanics, on the random-weight fixture): a built-in voice named there decodes with
 * its own decoder file, locally and on the inference pool; every other voice, cloned ones included, with the
 * shared one; a manifest naming a voice it does not have is refused.
 */
import assert from "node:assert/strict";
import { test, before, after } from "node:test";
import { loadSynthesizer } from "../src/app.js";
import { buildConfig } from "../src/config.js";
import { InferencePool } from "../src/engine/inference-pool.js";
import { graphSpecFor, loadManifest } from "../src/models/manifest.js";
import { loadModelSet, SERVING_GRAPHS, type ModelSet } from "../src/models/model-set.js";
import { Graph } from "../src/models/ort.js";
import { localBackend, Synthesizer } from "../src/synth/synthesizer.js";
import { Rng } from "../src/util/rng.js";
import { FIXTURE_MODEL, fixtureCopy } from "./helpers.js";

/** The fixture with awb decoding through the fixture's second decoder (other weights, same contract). */
const OWN_FILE = "codec_decoder_voice.onnx";
const withOwn = (voices: Record<string, string>) => fixtureCopy((raw) => { raw.codec.voice_decoders = voices; });

let plain: ModelSet;
let own: ModelSet;
let ownDir: string;
before(async () => {
  ownDir = withOwn({ awb: OWN_FILE });
  plain = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 }, SERVING_GRAPHS);
  own = await loadModelSet(ownDir, { intraOpThreads: 1 }, SERVING_GRAPHS);
});
after(async () => { await plain.dispose(); await own.dispose(); });

function randomCodes(frames: number, seed: number): { data: BigInt64Array; dims: number[] } {
  const m = plain.manifest, rng = new Rng(seed);
  const data = new BigInt64Array(m.codec.levels * frames);
  for (let i = 0; i < data.length; i++) data[i] = BigInt(Math.floor(rng.next() * m.codec.codebook_size));
  return { data, dims: [1, m.codec.levels, frames] };
}

async function decode(run: { run(f: { codes: { data: BigInt64Array; dims: number[] } }): Promise<Record<string, { data: unknown }>> }, seed = 5) {
  return (await run.run({ codes: randomCodes(30, seed) })).audio.data as Float32Array;
}

test("the manifest gives awb its own decoder file and every other voice (or none) the shared one", () => {
  const m = loadManifest(ownDir);
  assert.equal(graphSpecFor(m, "codec_decoder", "awb")?.file, OWN_FILE);
  for (const v of ["slt", "rms", "kal16", "someone-cloned", "constructor", undefined]) {
    assert.equal(graphSpecFor(m, "codec_decoder", v)?.file, "codec_decoder.onnx", String(v));
  }
  // only the codec decoder has voice variants; the contract is the shared one's
  assert.equal(graphSpecFor(m, "soundstorm", "awb"), m.graphs.soundstorm);
  assert.deepEqual(graphSpecFor(m, "codec_decoder", "awb")?.inputs, m.graphs.codec_decoder?.inputs);
});

test("a manifest naming a voice it does not serve is refused", () => {
  for (const name of ["nobody", "constructor"]) {
    assert.throws(() => loadManifest(withOwn({ [name]: OWN_FILE })), new RegExp(`codec.voice_decoders names '${name}'`));
  }
});

test("graphFor: awb's own decoder differs from the shared one; other voices get exactly the shared one", async () => {
  const direct = await Graph.load("codec_decoder", ownDir, { ...own.manifest.graphs.codec_decoder!, file: OWN_FILE }, { intraOpThreads: 1 });
  try {
    const shared = await decode(own.graphs.codec_decoder);
    const awb = await decode(own.graphFor("codec_decoder", "awb"));
    assert.deepEqual(awb, await decode(direct));
    assert.notDeepEqual(awb, shared);
    assert.deepEqual(await decode(own.graphFor("codec_decoder", "slt")), shared);
    assert.deepEqual(await decode(own.graphFor("codec_decoder")), shared);
    assert.deepEqual(shared, await decode(plain.graphs.codec_decoder));
  } finally {
    await direct.dispose();
  }
});

test("the inference pool runs a voice's own decoder on its workers", async () => {
  const pool = await InferencePool.start(own.manifest, {
    modelDir: ownDir, graphs: ["soundstorm", "codec_decoder"], workers: 1, intraOpThreads: 1,
    batching: { enabled: false, maxBatch: 1, maxBatchFrames: 1, maxWaitMs: 0 },
  });
  try {
    assert.equal(pool.graph("codec_decoder", "awb").spec.file, OWN_FILE);
    assert.deepEqual(await decode(pool.graph("codec_decoder", "awb")), await decode(own.graphFor("codec_decoder", "awb")));
    assert.deepEqual(await decode(pool.graph("codec_decoder", "kal16")), await decode(own.graphs.codec_decoder));
  } finally {
    await pool.close();
  }
});

test("the server's synthesizer (on the inference pool) speaks awb through awb's own decoder, slt through the shared one", async () => {
  const speak = async (synth: Synthesizer, voice: string) => (await synth.openStream(voice, 11).synthesize("A short test sentence."))!.pcm;
  const local = new Synthesizer(localBackend(own));
  const served = await loadSynthesizer(buildConfig({ modelDir: ownDir }));
  try {
    assert.deepEqual(await speak(served.synth, "awb"), await speak(local, "awb"));
    assert.deepEqual(await speak(served.synth, "slt"), await speak(local, "slt"));
    assert.notDeepEqual(await speak(served.synth, "awb"), await speak(new Synthesizer(localBackend(plain)), "awb"));
  } finally {
    await served.models.dispose();
  }
});

test("streams: awb speaks through its own decoder, slt and a clone of awb's prompt through the shared one, a candidate for awb through awb's", async () => {
  const speak = async (synth: Synthesizer, voice: string) => {
    const s = synth.openStream(voice, 11);
    const a = await s.synthesize("A short test sentence.");
    return a!.pcm;
  };
  const before = new Synthesizer(localBackend(plain));
  const after = new Synthesizer(localBackend(own));
  assert.notDeepEqual(await speak(after, "awb"), await speak(before, "awb"));
  assert.deepEqual(await speak(after, "slt"), await speak(before, "slt"));
  after.addVoice({ ...own.manifest.voicePrompts.get("awb")!, name: "awb-clone" });
  assert.deepEqual(await speak(after, "awb-clone"), await speak(before, "awb"));
  // a candidate prompt for awb (prepare voices) is scored through awb's own decoder, as awb is served
  after.addVoice({ ...own.manifest.voicePrompts.get("awb")!, name: "awb-candidate" }, { decoderOf: "awb" });
  assert.deepEqual(await speak(after, "awb-candidate"), await speak(after, "awb"));
  assert.throws(() => after.addVoice({ ...own.manifest.voicePrompts.get("awb")!, name: "x" }, { decoderOf: "awb-clone" }),
    /decoderOf 'awb-clone' is not a built-in voice/);
});
