/** Speech recognition for evaluation only: Debian's pocketsphinx (en-us), one batch process per call. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeWav } from "../pipeline/audio/wav.js";

export interface Transcript {
  readonly text: string;
  /** Word times in seconds (from -hypseg), without silences and fillers. */
  readonly words: { word: string; start: number; end: number }[];
}

/** Transcribe 16 kHz mono utterances; returns transcripts in input order. */
export function transcribe(utterances: Float32Array[], sampleRate = 16000): Transcript[] {
  if (sampleRate !== 16000) throw new Error("pocketsphinx en-us expects 16 kHz audio");
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-asr-"));
  try {
    const ids = utterances.map((pcm, i) => {
      const id = `u${String(i).padStart(5, "0")}`;
      writeFileSync(join(dir, `${id}.wav`), encodeWav(pcm, sampleRate));
      return id;
    });
    writeFileSync(join(dir, "ctl"), ids.join("\n") + "\n");
    const r = spawnSync("pocketsphinx_batch", [
      "-adcin", "yes", "-adchdr", "44", "-cepdir", dir, "-cepext", ".wav", "-ctl", join(dir, "ctl"),
      "-hyp", join(dir, "hyp"), "-hypseg", join(dir, "seg"), "-logfn", "/dev/null",
      // keep every frame: with silence removal (the default) -hypseg counts only the frames kept, so a word
      // after a pause over ~0.7 s was timed too early (the words themselves read the same: dev and tv165
      // flite WER were equal to the digit both ways)
      "-remove_silence", "no",
    ], { encoding: "utf8" });
    if (r.error) throw new Error(`cannot run pocketsphinx_batch (apt-get install pocketsphinx pocketsphinx-en-us): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`pocketsphinx_batch failed (${r.status}): ${r.stderr.slice(-500)}`);
    const hyp = new Map<string, string>();
    for (const line of readFileSync(join(dir, "hyp"), "utf8").split("\n")) {
      const m = /^(.*) \((u\d+) -?\d+\)$/.exec(line.trim());
      if (m) hyp.set(m[2], m[1].trim());
      else if (/^\((u\d+) -?\d+\)$/.test(line.trim())) hyp.set(line.trim().slice(1, 7), "");
    }
    const segs = new Map<string, Transcript["words"]>();
    // hypseg: "uttid S <scale> T <total> A <acoustic> L <lm>" then per word "sf ascr lscr word", then the
    // utterance's end frame; frames at 100/s, a word ends where the next begins
    for (const line of readFileSync(join(dir, "seg"), "utf8").split("\n")) {
      const t = line.trim().split(/\s+/);
      if (t.length < 10 || t[1] !== "S") continue;
      const raw: { word: string; sf: number }[] = [];
      let i = 9;
      for (; i + 3 < t.length; i += 4) raw.push({ word: t[i + 3].replace(/\(\d+\)$/, ""), sf: Number(t[i]) });
      const last = Number(t[i] ?? NaN);
      const words: Transcript["words"] = [];
      raw.forEach((r, k) => {
        if (/^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/.test(r.word)) return;
        const end = k + 1 < raw.length ? raw[k + 1].sf : last;
        words.push({ word: r.word, start: r.sf / 100, end: end / 100 });
      });
      segs.set(t[0], words);
    }
    return ids.map((id) => ({ text: hyp.get(id) ?? "", words: segs.get(id) ?? [] }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
