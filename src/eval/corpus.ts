/** Read held-out utterances from the packed corpus (data/corpus/<split>.jsonl + .pcm) built by sstrain.corpus. */
import { openSync, readSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface CorpusUtterance {
  readonly id: string;
  readonly speaker: string;
  readonly text: string;
  readonly pcm: Float32Array;
}

export function readCorpusSplit(dir: string, split: string, filter: (speaker: string) => boolean, limitPerSpeaker: number): CorpusUtterance[] {
  const index = readFileSync(join(dir, `${split}.jsonl`), "utf8").split("\n").filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; speaker: string; text: string; offset: number; length: number });
  const per = new Map<string, number>();
  const fd = openSync(join(dir, `${split}.pcm`), "r");
  try {
    const out: CorpusUtterance[] = [];
    for (const u of index) {
      if (!filter(u.speaker) || (per.get(u.speaker) ?? 0) >= limitPerSpeaker) continue;
      per.set(u.speaker, (per.get(u.speaker) ?? 0) + 1);
      const buf = Buffer.alloc(u.length * 2);
      readSync(fd, buf, 0, buf.length, u.offset * 2);
      const pcm = new Float32Array(u.length);
      for (let i = 0; i < u.length; i++) pcm[i] = buf.readInt16LE(i * 2) / 32768;
      out.push({ id: u.id, speaker: u.speaker, text: u.text, pcm });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
