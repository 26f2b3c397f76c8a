/**
 * Cloned voices on disk: one `<name>.json` per voice in a directory, in the format of the model's
 * own voice files ({name, description, phonemes, semantic, acoustic}) plus `model` (the manifest
 * name it was made with), `created_at`, `transcript`, `speech_seconds` and, for a voice made with an API
 * key, `owner` (the key's id). Files are written to a
 * temporary name, synced, and renamed (the directory synced after), so a crash or power loss never
 * leaves half a voice, and a failed write leaves no temporary file behind.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { voicePromptFromJson, voicePromptToJson, type ManifestData, type VoicePrompt } from "../models/manifest.js";

/** 1-64 characters: letters, digits, '_' and '-', starting with a letter or digit (safe as a file name). */
export const VOICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export interface StoredVoiceMeta {
  readonly createdAt: string;
  readonly transcript: string | null;
  readonly speechSeconds: number;
  /** Id of the API key that created the voice (never the key): only it may delete the voice. null when it
   * was made without keys configured, or stored before owners were recorded: any client may delete it. */
  readonly owner: string | null;
}

export interface StoredVoice {
  readonly prompt: VoicePrompt;
  readonly meta: StoredVoiceMeta;
}

export class VoiceStore {
  constructor(readonly dir: string, private readonly manifest: ManifestData) {}

  private file(name: string): string {
    if (!VOICE_NAME.test(name)) throw new Error(`invalid voice name ${JSON.stringify(name)}`);
    return join(this.dir, `${name}.json`);
  }

  /** Every stored voice made with this model; the others (and unreadable files) are listed in `skipped`. */
  async load(): Promise<{ voices: StoredVoice[]; skipped: string[] }> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((f) => f.endsWith(".json")).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { voices: [], skipped: [] };
      throw e;
    }
    const voices: StoredVoice[] = [];
    const skipped: string[] = [];
    for (const f of names) {
      const name = f.slice(0, -".json".length);
      try {
        if (!VOICE_NAME.test(name)) throw new Error("file name is not a valid voice name");
        const raw = JSON.parse(await readFile(join(this.dir, f), "utf8")) as Record<string, unknown>;
        if (typeof raw.model === "string" && raw.model !== this.manifest.name) throw new Error(`made with model '${raw.model}', serving '${this.manifest.name}'`);
        const prompt = voicePromptFromJson(name, raw, this.manifest);
        voices.push({
          prompt,
          meta: {
            createdAt: typeof raw.created_at === "string" ? raw.created_at : "",
            transcript: typeof raw.transcript === "string" ? raw.transcript : null,
            speechSeconds: typeof raw.speech_seconds === "number" ? raw.speech_seconds : 0,
            owner: typeof raw.owner === "string" && raw.owner ? raw.owner : null,
          },
        });
      } catch (e) {
        skipped.push(`${f}: ${(e as Error).message}`);
      }
    }
    return { voices, skipped };
  }

  async save(v: StoredVoice): Promise<void> {
    const path = this.file(v.prompt.name);
    await mkdir(this.dir, { recursive: true });
    const body = {
      ...voicePromptToJson(v.prompt, this.manifest.codec.levels),
      model: this.manifest.name,
      created_at: v.meta.createdAt,
      transcript: v.meta.transcript,
      speech_seconds: v.meta.speechSeconds,
      // absent for a voice without owner, so files read the same by servers from before owners
      ...(v.meta.owner !== null ? { owner: v.meta.owner } : {}),
    };
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    try {
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(JSON.stringify(body) + "\n");
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    // the rename itself is durable once the directory is
    const dir = await open(this.dir, "r").catch(() => null);
    if (dir) await dir.sync().catch(() => {}).finally(() => dir.close());
  }

  async remove(name: string): Promise<void> {
    try {
      await unlink(this.file(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}
