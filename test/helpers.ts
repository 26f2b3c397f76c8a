/** Shared test helpers: a server on an ephemeral loopback port and a WebSocket client that queues events. */
import { after, before } from "node:test";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import { createApp, type App } from "../src/app.js";
import type { ConfigOverrides } from "../src/config.js";
import { decodeAudioMessage, type AudioHeader } from "../src/protocol/audio-header.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { promptKey } from "../src/engine/prompt-cache.js";
import type { AcousticRequest } from "../src/pipeline/acoustic/soundstorm.js";
import { loadModelSet, SERVING_GRAPHS, type ModelSet } from "../src/models/model-set.js";
import { loadManifest, servingManifest, type ServingManifest } from "../src/models/manifest.js";
import { Graph } from "../src/models/ort.js";
import { localBackend, Synthesizer, type SpeechStream } from "../src/synth/synthesizer.js";

/** The random-weight fixture: tests of mechanics run on it (fast); the trained default has its own tests. */
export const FIXTURE_MODEL = resolve("models/fixture");

/** A temporary copy of the fixture whose manifest `edit` changes in place; returns its directory. */
export function fixtureCopy(edit: (manifest: Record<string, Record<string, unknown>>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-fixture-"));
  cpSync(FIXTURE_MODEL, dir, { recursive: true });
  const raw = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  edit(raw);
  writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
  return dir;
}

/** A temporary copy of the fixture whose manifest names a decoding prior (`section`.`field` = {file, weight})
 * holding `table` as float32 little-endian. */
export function fixtureWithPrior(section: "text_to_semantic" | "soundstorm", field: string, table: Float32Array, weight: number): string {
  const dir = fixtureCopy((raw) => { raw[section][field] = { file: "prior.f32", weight }; });
  writeFileSync(join(dir, "prior.f32"), Buffer.from(table.buffer, table.byteOffset, table.byteLength));
  return dir;
}

/** The fixture's serving graphs in this process, loaded before the calling file's tests and freed after them;
 * the returned function gives the synthesizer (once the tests run). */
export function fixtureSynthesizer(): () => Synthesizer {
  let models: ModelSet | null = null;
  let synth: Synthesizer | null = null;
  before(async () => {
    models = await loadModelSet(FIXTURE_MODEL, { intraOpThreads: 1 }, SERVING_GRAPHS);
    synth = new Synthesizer(localBackend(models));
  });
  after(async () => { await models?.dispose(); });
  return () => {
    if (!synth) throw new Error("the fixture synthesizer is loaded in before(): use it inside a test");
    return synth;
  };
}

/** `inner`, but every stream it opens has its synthesize() replaced by `wrap(original)` (fault injection,
 * bookkeeping). */
export function withSynthesize(inner: Synthesizer,
  wrap: (original: SpeechStream["synthesize"]) => SpeechStream["synthesize"]): Synthesizer {
  const bound = <T extends object>(o: T, v: unknown) => (typeof v === "function" ? v.bind(o) : v);
  return new Proxy(inner, {
    get(target, prop, recv) {
      if (prop !== "openStream") return bound(target, Reflect.get(target, prop, recv));
      return (voice: string, seed: number) => {
        const stream = target.openStream(voice, seed);
        const synthesize = wrap(stream.synthesize.bind(stream));
        return new Proxy(stream, { get: (st, p, r) => (p === "synthesize" ? synthesize : bound(st, Reflect.get(st, p, r))) });
      };
    },
  });
}

export async function startTestServer(overrides: ConfigOverrides = {}): Promise<App> {
  return createApp({ host: "127.0.0.1", port: 0, modelDir: FIXTURE_MODEL, ...overrides });
}

export interface AudioFrame {
  header: AudioHeader;
  payload: Uint8Array;
}

type Item = { kind: "json"; ev: ServerEvent } | { kind: "audio"; frame: AudioFrame };

export class TestClient {
  readonly events: ServerEvent[] = [];
  readonly frames: AudioFrame[] = [];
  closeCode: number | null = null;
  private waiters: { pred: (i: Item) => boolean; resolve: (i: Item) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private queue: Item[] = [];
  private closeWaiters: ((code: number) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const buf = data as Buffer;
      const item: Item = isBinary
        ? { kind: "audio", frame: decodeAudioMessage(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)) }
        : { kind: "json", ev: JSON.parse(buf.toString("utf8")) as ServerEvent };
      if (item.kind === "json") this.events.push(item.ev); else this.frames.push(item.frame);
      const w = this.waiters.findIndex((x) => x.pred(item));
      if (w >= 0) {
        const [x] = this.waiters.splice(w, 1);
        clearTimeout(x.timer);
        x.resolve(item);
      } else {
        this.queue.push(item);
      }
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      for (const w of this.closeWaiters) w(code);
    });
  }

  static async connect(port: number, path = "/v1/stream"): Promise<TestClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const c = new TestClient(ws);
    await new Promise<void>((res, rej) => { ws.once("open", () => res()); ws.once("error", rej); });
    await c.nextEvent("hello");
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  private take(pred: (i: Item) => boolean, timeoutMs: number): Promise<Item> {
    const idx = this.queue.findIndex(pred);
    if (idx >= 0) return Promise.resolve(this.queue.splice(idx, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out waiting; events so far: ${JSON.stringify(this.events.map((e) => e.type === "error" ? e : e.type))}`));
      }, timeoutMs);
      this.waiters.push({ pred, resolve, reject, timer });
    });
  }

  async nextEvent<T extends ServerEvent["type"]>(type: T, contextId?: string, timeoutMs = 20_000): Promise<Extract<ServerEvent, { type: T }>> {
    const item = await this.take((i) => i.kind === "json" && i.ev.type === type &&
      (contextId === undefined || (i.ev as { context_id?: string }).context_id === contextId), timeoutMs);
    return (item as unknown as { ev: Extract<ServerEvent, { type: T }> }).ev;
  }

  closed(): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((res) => this.closeWaiters.push(res));
  }

  close(): void {
    this.ws.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Decode an Ogg Opus file with ffmpeg (an independent libopus decoder); returns the 48 kHz sample count. */
export function ffmpegDecodedSamples(oggPath: string): number {
  return ffmpegDecode(oggPath, 48000).length;
}

/** Decode an audio file with ffmpeg to mono 16-bit samples at `rate`. */
export function ffmpegDecode(path: string, rate: number): Int16Array {
  const r = spawnSync("ffmpeg", ["-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", String(rate), "-"], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr.toString()}`);
  return new Int16Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length / 2);
}

export function ffprobeCodec(path: string): string {
  const r = spawnSync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path]);
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

/** One case of a SoundStorm golden file (models/tools/soundstorm_golden.py). */
export interface GoldenCase {
  voice_semantic: number[];
  voice_acoustic: number[];
  tail_semantic: number[];
  tail_acoustic: number[];
  semantic: number[];
  schedule: number[];
  expected: number[];
  passes: number;
}

/** The greedy request a golden case describes. */
export function goldenRequest(c: GoldenCase): AcousticRequest {
  const semantic = Int32Array.from(c.voice_semantic), acoustic = Int32Array.from(c.voice_acoustic);
  return {
    voice: { key: promptKey(semantic, acoustic), semantic, acoustic },
    tailSemantic: Int32Array.from(c.tail_semantic), tailAcoustic: Int32Array.from(c.tail_acoustic),
    semantic: Int32Array.from(c.semantic), seed: 1, schedule: c.schedule, greedy: true,
  };
}

/** The manifest as the Python reference decoder sees it: the model alone, without the serving-time additions on the
 * logits (the level-1 prior: level1-prior.test.ts; guidance by the units: semantic-guidance.test.ts). */
export function modelAlone(m: ServingManifest): ServingManifest {
  const { semantic_guidance: _, ...decoding } = m.decoding;
  return { ...m, decoding, level1Prior: null };
}

/** A model set's manifest and its SoundStorm graph as the golden files were made from it: where the served graph was
 * quantized after export (graphs.soundstorm.reference_file), the float graph it came from. */
export async function referenceSoundStorm(modelDir: string): Promise<{ manifest: ServingManifest; graph: Graph }> {
  const manifest = servingManifest(loadManifest(modelDir));
  const spec = manifest.graphs.soundstorm;
  const file = spec.reference_file ?? spec.file;
  return { manifest, graph: await Graph.load("soundstorm", modelDir, { ...spec, file }, { intraOpThreads: 1 }) };
}
