/** Long chunks reach text to semantic in word-bounded pieces (manifest text_to_semantic.max_input_symbols). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModelSet } from "../src/models/model-set.js";
import { localBackend, splitAtWords, Synthesizer } from "../src/synth/synthesizer.js";
import { FIXTURE_MODEL, fixtureCopy } from "./helpers.js";

const SEP = 0;
const isSep = (id: number) => id === SEP;
const pieces = (ids: number[], max: number) => splitAtWords(Int32Array.from(ids), max, isSep).map((p) => [...p]);

test("a chunk is cut after word separators into pieces of at most max symbols; a longer word stays whole", () => {
  assert.deepEqual(pieces([1, 2, 0, 3, 3, 0, 5, 5, 5, 0, 6], 5), [[1, 2, 0], [3, 3, 0], [5, 5, 5, 0, 6]]);
  assert.deepEqual(pieces([1, 2, 0, 3], 4), [[1, 2, 0, 3]], "short enough: one piece");
  assert.deepEqual(pieces([1, 1, 1, 1, 1, 1, 1, 0, 2], 3), [[1, 1, 1, 1, 1, 1, 1, 0], [2]]);
  assert.deepEqual(pieces([1, 1, 1, 1, 1, 1], 3), [[1, 1, 1, 1, 1, 1]], "no separator: nothing to cut at");
  const ids = Array.from({ length: 200 }, (_, i) => (i % 7 === 6 ? SEP : 1 + (i % 5)));
  const cut = pieces(ids, 40);
  assert.deepEqual(cut.flat(), ids, "nothing lost or reordered");
  for (const p of cut) assert.ok(p.length <= 40 && p.length > 0);
  for (const p of cut.slice(0, -1)) assert.equal(p[p.length - 1], SEP, "every cut is just after a separator");
});

/** A copy of the fixture (random weights, for mechanics) with text_to_semantic.max_input_symbols set. */
const fixtureWithMaxInput = (max: number) => fixtureCopy((raw) => { raw.text_to_semantic.max_input_symbols = max; });

async function speak(dir: string, text: string) {
  const models = await loadModelSet(dir, { intraOpThreads: 1 });
  try {
    const synth = new Synthesizer(localBackend(models));
    const stream = synth.openStream(synth.voices[0], 1);
    const t2s = (stream as unknown as { t2s: { generate: (...a: unknown[]) => Promise<unknown> } }).t2s;
    const inputs: number[] = [];
    const generate = t2s.generate.bind(t2s);
    t2s.generate = (ids: unknown, ...rest: unknown[]) => { inputs.push((ids as Int32Array).length); return generate(ids, ...rest); };
    const r = await stream.synthesize(text);
    const { hop_length, sample_rate } = synth.manifest.audio;
    return { r: r!, inputs, hop: hop_length, sr: sample_rate, held: synth.manifest.codec.decoder_right_context_frames };
  } finally {
    await models.dispose();
  }
}

test("a chunk over max_input_symbols is generated in pieces; its frames, words and audio stay whole", async () => {
  const text = "This sentence is long enough to be cut into several pieces of a dozen symbols or so, at word boundaries.";
  const whole = await speak(FIXTURE_MODEL, text);
  const cut = await speak(fixtureWithMaxInput(24), text);
  assert.equal(whole.inputs.length, 1);
  assert.ok(cut.inputs.length >= 3, `${cut.inputs.length} pieces`);
  assert.equal(cut.inputs.reduce((a, b) => a + b, 0), whole.inputs[0], "every symbol goes to exactly one piece");
  assert.ok(cut.inputs.every((n) => n <= 24 || cut.inputs.length === 1));
  assert.equal(cut.r.phonemes, whole.r.phonemes);
  assert.deepEqual(cut.r.words.map((w) => w.word), whole.r.words.map((w) => w.word));
  // the pieces' frames are one chunk's: one audio stream, less only what the codec holds back for right context
  assert.equal(cut.r.pcm.length, (cut.r.frames - cut.held) * cut.hop);
  assert.ok(cut.r.words[cut.r.words.length - 1].end_ms <= (cut.r.frames * cut.hop * 1000) / cut.sr + 1);
  for (let i = 1; i < cut.r.words.length; i++) assert.ok(cut.r.words[i].start_ms >= cut.r.words[i - 1].start_ms, "word times stay in order");
});

test("text to semantic's context is the stream's last context_phonemes and their frames, across short chunks", async () => {
  const models = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 });
  try {
    const synth = new Synthesizer(localBackend(models));
    const ctx = synth.manifest.text_to_semantic.context_phonemes;
    const stream = synth.openStream(synth.voices[0], 1);
    const t2s = (stream as unknown as { t2s: { generate: (...a: unknown[]) => Promise<{ tokens: Int32Array; durations: Int32Array }> } }).t2s;
    type Call = { ids: number[]; prompt: { phonemes: number[]; semantic: number[] }; tokens: number[]; durations: number[] };
    const calls: Call[] = [];
    const generate = t2s.generate.bind(t2s);
    t2s.generate = async (ids: unknown, prompt: unknown, ...rest: unknown[]) => {
      const r = await generate(ids, prompt, ...rest);
      const p = prompt as { phonemes: Int32Array; semantic: Int32Array };
      calls.push({ ids: [...(ids as Int32Array)], prompt: { phonemes: [...p.phonemes], semantic: [...p.semantic] },
        tokens: [...r.tokens], durations: [...r.durations] });
      return r;
    };
    // short chunks, each well under context_phonemes symbols, so the context has to reach back several
    for (const text of ["Yes.", "Well, maybe.", "Not now.", "Go on, then.", "Fine."]) await stream.synthesize(text);
    assert.equal(calls.length, 5);
    const voice = calls[0].prompt;     // the first call has no stream history: its prompt is the voice alone
    const history = { ids: [] as number[], durations: [] as number[], tokens: [] as number[] };
    for (const c of calls) {
      const keep = Math.min(ctx, history.ids.length);
      const ids = history.ids.slice(history.ids.length - keep);
      const frames = history.durations.slice(history.durations.length - keep).reduce((a, b) => a + b, 0);
      assert.deepEqual(c.prompt.phonemes, [...voice.phonemes, ...ids]);
      assert.deepEqual(c.prompt.semantic, [...voice.semantic, ...history.tokens.slice(history.tokens.length - frames)]);
      history.ids.push(...c.ids);
      history.durations.push(...c.durations);
      history.tokens.push(...c.tokens);
    }
    assert.ok(calls[4].prompt.phonemes.length - voice.phonemes.length > calls[3].ids.length, "the context reached past the previous chunk");
  } finally {
    await models.dispose();
  }
});
