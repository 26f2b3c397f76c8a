/** Reference speech from Debian's flite, for evaluation and as the speed baseline. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeWav } from "../pipeline/audio/wav.js";

export const BASE_VOICES = ["slt", "awb", "rms", "kal16"] as const;

export function fliteSpeak(text: string, voice: string): { pcm: Float32Array; sampleRate: number } {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-flite-"));
  try {
    const out = join(dir, "out.wav");
    const r = spawnSync("flite", ["-voice", voice, "-t", text, "-o", out], { encoding: "utf8" });
    if (r.error) throw new Error(`cannot run flite (apt-get install flite): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`flite failed: ${r.stderr}`);
    return decodeWav(new Uint8Array(readFileSync(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
