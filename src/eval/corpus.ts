/** Read utterances from the packed corpus (data/corpus/<split>.jsonl + .pcm) built by sstrain.corpus. */
import { openSync, readSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface CorpusUtterance {
  readonly id: string;
  readonly speaker: string;
  readonly text: string;
  readonly pcm: Float32Array;
}

/** One line of a split's index (data/corpus/<split>.jsonl): where its int16 samples sit in <split>.pcm. */
export interface CorpusIndexEntry {
  readonly id: string;
  readonly speaker: string;
  readonly text: string;
  /** In samples. */
  readonly offset: number;
  readonly length: number;
}

export function readCorpusIndex(dir: string, split: string): CorpusIndexEntry[] {
  return readFileSync(join(dir, `${split}.jsonl`), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as CorpusIndexEntry);
}

/** An utterance's samples from an open <split>.pcm, as floats in [-1, 1), into `pcm` (default: a new array of its length;
 * a longer one leaves its tail as it is, e.g. zero padding). */
export function readCorpusPcm(fd: number, u: CorpusIndexEntry, pcm = new Float32Array(u.length)): Float32Array {
  const buf = Buffer.alloc(u.length * 2);
  readSync(fd, buf, 0, buf.length, u.offset * 2);
  for (let i = 0; i < u.length; i++) pcm[i] = buf.readInt16LE(i * 2) / 32768;
  return pcm;
}

export function readCorpusSplit(dir: string, split: string, filter: (speaker: string) => boolean, limitPerSpeaker: number): CorpusUtterance[] {
  const per = new Map<string, number>();
  const fd = openSync(join(dir, `${split}.pcm`), "r");
  try {
    const out: CorpusUtterance[] = [];
    for (const u of readCorpusIndex(dir, split)) {
      if (!filter(u.speaker) || (per.get(u.speaker) ?? 0) >= limitPerSpeaker) continue;
      per.set(u.speaker, (per.get(u.speaker) ?? 0) + 1);
      out.push({ id: u.id, speaker: u.speaker, text: u.text, pcm: readCorpusPcm(fd, u) });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
