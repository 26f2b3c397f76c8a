/** `soundstorm prepare units`: corpus audio through the model's semantic tokenizer, subset and resume. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareUnits } from "../src/cli/prepare-units.js";

/** A packed corpus split like sstrain.corpus writes: index lines and int16 samples back to back. */
function tinyCorpus(lengths: number[], speakers: string[] = lengths.map(() => "slt")): string {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-units-"));
  const pcm = new Int16Array(lengths.reduce((a, b) => a + b, 0));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin(i * 0.05 + (i % 97) * 0.3));
  let offset = 0;
  const lines = lengths.map((length, i) => {
    const line = JSON.stringify({ id: `train${i}`, speaker: speakers[i], text: "x", offset, length });
    offset += length;
    return line;
  });
  writeFileSync(join(dir, "train.jsonl"), lines.join("\n") + "\n");
  writeFileSync(join(dir, "train.pcm"), Buffer.from(pcm.buffer));
  return dir;
}

test("prepare units tokenizes exactly --limit utterances, evenly spaced, padded to whole frames, and resumes without repeats", async () => {
  const lengths = [16000, 7000, 12800, 3300, 9000];
  const dir = tinyCorpus(lengths);
  const out = join(dir, "units.jsonl");
  const read = () => readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; units: number[] });
  const opts = { corpusDir: dir, modelDir: "models/fixture", out, log: () => {} };
  assert.equal(await prepareUnits({ ...opts, limit: 4 }), 4);   // exactly 4 of 5, evenly spaced (a stride of 2 gave 3)
  assert.deepEqual(read().map((r) => r.id), ["train0", "train1", "train2", "train3"]);
  assert.equal(await prepareUnits(opts), 1);                     // the rest, not the four done
  const rows = read();
  assert.deepEqual(rows.map((r) => r.id).sort(), ["train0", "train1", "train2", "train3", "train4"]);
  for (const r of rows) {
    const n = lengths[Number(r.id.slice(5))];
    assert.equal(r.units.length, Math.ceil(n / 640), `${r.id}: one unit per 640 samples (25 Hz at 16 kHz), the last padded`);
    assert.ok(r.units.every((u) => Number.isInteger(u) && u >= 0 && u < 32));
  }
});

test("prepare units --codes adds the codec encoder's codes: one array per level, two frames per unit", async () => {
  const lengths = [6400, 5000];
  const dir = tinyCorpus(lengths);
  const out = join(dir, "tokens.jsonl");
  assert.equal(await prepareUnits({ corpusDir: dir, modelDir: "models/fixture", out, codes: true, log: () => {} }), 2);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; units: number[]; codes: number[][] });
  for (const r of rows) {
    assert.equal(r.codes.length, 4, "the fixture codec has 4 levels");
    for (const level of r.codes) {
      assert.equal(level.length, 2 * r.units.length);
      assert.ok(level.every((c) => Number.isInteger(c) && c >= 0 && c < 64));
    }
  }
});

test("prepare units --speakers tokenizes only those speakers' utterances and writes each row's speaker", async () => {
  const dir = tinyCorpus([3200, 3200, 3200, 3200], ["slt", "slt_a", "awb", "kal16"]);
  const out = join(dir, "units.jsonl");
  const opts = { corpusDir: dir, modelDir: "models/fixture", out, log: () => {} };
  assert.equal(await prepareUnits({ ...opts, speakers: ["slt", "kal16"] }), 2);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; speaker: string });
  assert.deepEqual(rows.map((r) => [r.id, r.speaker]), [["train0", "slt"], ["train3", "kal16"]]);
  await assert.rejects(prepareUnits({ ...opts, speakers: ["rms"] }), /no utterances of speakers rms in train/);
});
