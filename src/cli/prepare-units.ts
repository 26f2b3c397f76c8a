/**
 * `soundstorm prepare units --corpus DIR --out FILE [--model DIR] [--split train] [--limit N] [--speakers a,b] [--codes]`:
 * the model's semantic tokenizer (onnxruntime-node, as voice cloning runs it) over corpus audio, one JSON
 * line {"id", "speaker", "units"} per utterance; with --codes also the codec encoder's codes ("codes": one array
 * per level, at the frame rate). The audio is padded to whole semantic frames first, as `sstrain.tokens`
 * does. Training steps that need them read this file (`sstrain.t2s.unit_prior --units`,
 * `sstrain.soundstorm.level1_prior --tokens`) on machines with neither tokens nor Python onnxruntime.
 * With --limit below the split's size, an evenly spaced subset (every k-th utterance, so every speaker
 * and sentence range is in it); with --speakers, only those speakers' utterances (e.g. the base voices
 * without their augmented variants). Resumable: ids already in FILE are skipped.
 */
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readCorpusIndex, readCorpusPcm } from "../eval/corpus.js";
import { loadModelSet } from "../models/model-set.js";
import { unitsOfAudio } from "../pipeline/semantic/units-of-audio.js";

export interface PrepareUnitsOptions {
  readonly corpusDir: string;
  readonly modelDir: string;
  readonly out: string;
  readonly split?: string;
  readonly limit?: number;
  /** Only these corpus speakers (e.g. the base voices, without their augmented variants). */
  readonly speakers?: readonly string[];
  /** Also run the codec encoder and write each utterance's codes. */
  readonly codes?: boolean;
  readonly log: (m: string) => void;
}

export async function prepareUnits(o: PrepareUnitsOptions): Promise<number> {
  const split = o.split ?? "train";
  const all = readCorpusIndex(o.corpusDir, split);
  const keep = o.speakers ? new Set(o.speakers) : null;
  const index = keep ? all.filter((u) => keep.has(u.speaker)) : all;
  if (keep && index.length === 0) throw new Error(`no utterances of speakers ${[...keep].join(", ")} in ${split}`);
  // exactly `limit` utterances, evenly spaced (so every speaker and the whole sentence range stay in)
  const n = index.length;
  const picked = o.limit && o.limit < n ? new Set(Array.from({ length: o.limit }, (_, k) => Math.floor((k * n) / o.limit!))) : null;
  const done = new Set<string>();
  if (existsSync(o.out)) {
    for (const line of readFileSync(o.out, "utf8").split("\n")) if (line) done.add((JSON.parse(line) as { id: string }).id);
  }
  const todo = index.filter((u, i) => (!picked || picked.has(i)) && !done.has(u.id));
  o.log(`${todo.length} utterances to tokenize (${done.size} done, ${picked ? picked.size : n} of ${n} in ${split}${keep ? ` of ${[...keep].join(",")}` : ""})`);
  const models = await loadModelSet(o.modelDir, { intraOpThreads: 2 }, o.codes ? ["semantic_tokenizer", "codec_encoder"] : ["semantic_tokenizer"]);
  const levels = models.manifest.codec.levels;
  const hop = Math.round(models.manifest.audio.sample_rate / models.manifest.semantic!.rate);
  const fd = openSync(join(o.corpusDir, `${split}.pcm`), "r");
  try {
    const t0 = performance.now();
    for (let k = 0; k < todo.length; k++) {
      const u = todo[k];
      const pcm = readCorpusPcm(fd, u, new Float32Array(Math.ceil(u.length / hop) * hop));   // zero-padded to whole frames
      const units = await unitsOfAudio(models.graphs.semantic_tokenizer, models.manifest, pcm);
      const row: { id: string; speaker: string; units: number[]; codes?: number[][] } = { id: u.id, speaker: u.speaker, units: Array.from(units) };
      if (o.codes) {
        const c = Array.from((await models.graphs.codec_encoder.run({ audio: { data: pcm, dims: [1, pcm.length] } })).codes.data as ArrayLike<number | bigint>, Number);
        const T = c.length / levels;   // [1, levels, frames]
        row.codes = Array.from({ length: levels }, (_, q) => c.slice(q * T, (q + 1) * T));
      }
      appendFileSync(o.out, JSON.stringify(row) + "\n");
      if ((k + 1) % 500 === 0 || k + 1 === todo.length) {
        const s = (performance.now() - t0) / 1000;
        o.log(`${k + 1}/${todo.length} (${s.toFixed(0)} s, ~${((todo.length - k - 1) * s / (k + 1)).toFixed(0)} s left)`);
      }
    }
    return todo.length;
  } finally {
    closeSync(fd);
    await models.dispose();
  }
}
