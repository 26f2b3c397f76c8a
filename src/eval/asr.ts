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
    // hypseg: "uttid S T scr sf wid ef ascr lscr word sf ..." frames at 100/s
    for (const line of readFileSync(join(dir, "seg"), "utf8").split("\n")) {
      const t = line.trim().split(/\s+/);
      if (t.length < 4) continue;
      const words: Transcript["words"] = [];
      for (let i = 4; i + 4 < t.length; i += 5) {
        const w = t[i + 4].replace(/\(\d+\)$/, "");
        if (/^(<s>|<\/s>|<sil>|\[.*\]|\+\+.*\+\+)$/.test(w)) continue;
        words.push({ word: w, start: Number(t[i]) / 100, end: (Number(t[i + 2]) + 1) / 100 });
      }
      segs.set(t[0], words);
    }
    return ids.map((id) => ({ text: hyp.get(id) ?? "", words: segs.get(id) ?? [] }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
