// Give a model set's built-in voices the units of its (new) semantic tokenizer, keeping their audio: each voice's
// prompt was cut from flite's audio of the sentence its description quotes; the old tokenizer's units of that
// audio locate the prompt's frames in it, and the new tokenizer's units of the same frames replace the prompt's.
// Codes and phonemes stay as they are. For a tokenizer swap (sstrain.semantic.export into a copy of the model
// set), where `reclone_voices.mjs` would re-cut prompts whose trimming differs (awb, kal16). (The corpus ids in
// the descriptions name utterances of the corpus they were cut from; a corpus rebuilt from another text
// release numbers its sentences differently, flite's audio of the sentence does not change.)
//
//   npm run build && node models/tools/retokenize_voices.mjs --old models/default --new runs/copies/NEW [--write]
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { old: { type: "string" }, new: { type: "string" }, write: { type: "boolean" } } });
if (!values.old || !values.new) throw new Error("usage: retokenize_voices.mjs --old DIR --new DIR [--write]");
const dist = resolve("dist/src");
const { loadModelSet } = await import(join(dist, "models/model-set.js"));
const { units, decodeCodes } = await import(join(dist, "eval/soundstorm-eval.js"));
const { servingManifest } = await import(join(dist, "models/manifest.js"));
const { fliteSpeak } = await import(join(dist, "eval/flite.js"));

const oldSet = await loadModelSet(resolve(values.old), { intraOpThreads: 1 }, ["semantic_tokenizer"]);
const newSet = await loadModelSet(resolve(values.new), { intraOpThreads: 1 }, ["semantic_tokenizer", "codec_decoder"]);
let failed = false;
try {
  for (const [v, rel] of Object.entries(newSet.manifest.voices)) {
    const file = join(resolve(values.new), rel);
    const voice = JSON.parse(readFileSync(file, "utf8"));
    // the quoted sentence: "..." or '...' after the voice's flite name
    const text = /^flite voice \S+: (["'])(.*?)\1 \(/.exec(voice.description)?.[2];
    if (!text) throw new Error(`${v}: its description quotes no sentence`);
    const pcm = fliteSpeak(text, v).pcm;
    // the prompt's audio was trimmed by the cloner at any sample, not at a unit boundary: search the shift too
    const hop = oldSet.manifest.audio.sample_rate / oldSet.manifest.semantic.rate;
    const p = voice.semantic;
    // how many of the prompt's units `a` has from unit `o` on
    const agree = (a, o = 0) => p.reduce((n, x, i) => n + (a[o + i] === x ? 1 : 0), 0);
    let best = -1, bestHits = -1, bestShift = 0;
    const search = async (shifts) => {
      for (const shift of shifts) {
        const a = await units(oldSet, pcm.subarray(shift));
        for (let o = 0; o + p.length <= a.length; o++) {
          const hits = agree(a, o);
          if (hits > bestHits) [best, bestHits, bestShift] = [o, hits, shift];
        }
      }
    };
    await search(Array.from({ length: hop / 10 }, (_, k) => 10 * k));                          // coarse...
    await search(Array.from({ length: 19 }, (_, k) => bestShift - 9 + k).filter((x) => x >= 0)); // ...then fine
    let next;
    if (bestHits >= 0.9 * p.length) {
      // units of the clip alone (as the cloner makes them) or in the whole sentence (as a corpus utterance's
      // frames have them): whichever the old tokenizer reproduces better
      const clip = pcm.subarray(bestShift + best * hop, bestShift + (best + p.length) * hop);
      const same = agree(await units(oldSet, clip));
      next = Array.from(same >= bestHits ? await units(newSet, clip)
        : (await units(newSet, pcm.subarray(bestShift))).subarray(best, best + p.length));
      console.log(`${v}: prompt at unit ${best}, audio shifted ${bestShift} samples; old units reproduced ${Math.max(same, bestHits)}/${p.length} (${same >= bestHits ? "clip" : "sentence"})`);
    } else {
      // the prompt was cut from other audio: the units of its own codes' decoded audio (two codec frames a unit)
      const m = servingManifest(newSet.manifest);
      next = Array.from((await units(newSet, await decodeCodes(newSet, m, Int32Array.from(voice.acoustic.flat())))).subarray(0, p.length));
      console.log(`${v}: not in flite's audio of "${text}" (best ${bestHits}/${p.length}): units of its decoded codes`);
      if (next.length !== p.length) { console.error(`${v}: ${next.length} units for ${p.length}`); failed = true; continue; }
    }
    const changed = p.length - agree(next);
    console.log(`${v}: ${changed} of ${p.length} units changed`);
    if (values.write) writeFileSync(file, JSON.stringify({ ...voice, semantic: next }) + "\n");
  }
} finally {
  await oldSet.dispose();
  await newSet.dispose();
}
process.exitCode = failed ? 1 : 0;
