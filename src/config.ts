/**
 * Every tunable of the server in one place, with its default. A config is
 * built once at boot (defaults <- environment <- CLI flags), validated, frozen,
 * and passed explicitly; nothing reads process.env after this.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { LatencyProfile, OutputFormat } from "./protocol/messages.js";

/** Chunking schedule for one latency profile (characters of text). */
export interface ChunkPolicy {
  /** First chunk: cut at the first phrase boundary (, ; : or sentence end) once this many characters are buffered. */
  readonly firstMinChars: number;
  /** Later chunks: cut at a sentence end once this many characters are buffered... */
  readonly minChars: number;
  /** ...or at a phrase boundary once this many are buffered. */
  readonly phraseChars: number;
  /** Hard cap: cut at the last word boundary when the buffer reaches this. */
  readonly maxChars: number;
  /** Synthesize complete words anyway if no new text arrived for this long (ms). */
  readonly maxDelayMs: number;
}

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** Directory holding model.json. */
  readonly modelDir: string;
  readonly defaultVoice: string | null;
  readonly defaultFormat: OutputFormat;
  readonly defaultLatency: LatencyProfile;
  readonly limits: {
    /** Largest WebSocket message accepted; larger ones get message_too_large and close code 1009. */
    readonly maxMessageBytes: number;
    /** Hard cap enforced by uWS from the frame header: a frame above it is never buffered and the
     * connection is dropped at once (the client sees 1006). Must be >= maxMessageBytes. */
    readonly maxFrameBytes: number;
    readonly maxTextCharsPerMessage: number;
    readonly maxTextCharsPerContext: number;
    readonly maxContextsPerSocket: number;
    /** Seconds without any client message before the socket is closed (pings count). */
    readonly idleTimeoutS: number;
    /** Bytes buffered towards one socket before uWS drops sends; a drop closes the socket with 4001. */
    readonly maxBackpressureBytes: number;
    /** Unsent bytes at which a socket is reported as a slow consumer (one slow_consumer warning). */
    readonly slowConsumerBytes: number;
  };
  readonly chunking: Readonly<Record<LatencyProfile, ChunkPolicy>>;
  readonly inference: {
    /** onnxruntime intra-op threads per session. */
    readonly intraOpThreads: number;
    /** Seed used when a context gives none. */
    readonly defaultSeed: number;
  };
  /** Opus encoder bitrate, bits per second. */
  readonly opusBitrate: number;
}

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export const DEFAULT_CONFIG: ServerConfig = {
  host: "0.0.0.0",
  port: 8080,
  modelDir: resolve(ROOT, "models/fixture"),
  defaultVoice: null,
  defaultFormat: "opus",
  defaultLatency: "balanced",
  limits: {
    maxMessageBytes: 64 * 1024,
    maxFrameBytes: 1024 * 1024,
    maxTextCharsPerMessage: 10_000,
    maxTextCharsPerContext: 100_000,
    maxContextsPerSocket: 8,
    idleTimeoutS: 60,
    maxBackpressureBytes: 4 * 1024 * 1024,
    slowConsumerBytes: 1024 * 1024,
  },
  chunking: {
    low: { firstMinChars: 12, minChars: 40, phraseChars: 60, maxChars: 200, maxDelayMs: 150 },
    balanced: { firstMinChars: 20, minChars: 60, phraseChars: 100, maxChars: 250, maxDelayMs: 300 },
    quality: { firstMinChars: 60, minChars: 100, phraseChars: 180, maxChars: 350, maxDelayMs: 800 },
  },
  inference: { intraOpThreads: 1, defaultSeed: 0 },
  opusBitrate: 32_000,
};

export type ConfigOverrides = {
  [K in keyof ServerConfig]?: ServerConfig[K] extends object ? Partial<ServerConfig[K]> : ServerConfig[K];
};

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function intEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Environment variables the server reads (documented in README.md). */
export function fromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const o: Record<string, unknown> = {};
  const port = intEnv(env, "PORT");
  if (port !== undefined) o.port = port;
  if (env.HOST) o.host = env.HOST;
  if (env.SOUNDSTORM_MODEL) o.modelDir = resolve(env.SOUNDSTORM_MODEL);
  const threads = intEnv(env, "SOUNDSTORM_THREADS");
  if (threads !== undefined) o.inference = { intraOpThreads: threads };
  return o as ConfigOverrides;
}

export function buildConfig(...layers: ConfigOverrides[]): ServerConfig {
  const c = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (!(k in c)) throw new Error(`unknown config key '${k}'`);
      const cur = c[k];
      c[k] = cur && typeof cur === "object" && v && typeof v === "object" ? { ...cur, ...v } : v;
    }
  }
  const cfg = c as unknown as ServerConfig;
  validate(cfg);
  return deepFreeze(cfg);
}

function validate(c: ServerConfig): void {
  const bad = (m: string) => { throw new Error(`invalid config: ${m}`); };
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) bad(`port ${c.port}`);
  const l = c.limits;
  for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v <= 0) bad(`limits.${k} must be a positive integer`);
  if (l.maxFrameBytes < l.maxMessageBytes) bad("maxFrameBytes below maxMessageBytes");
  if (l.maxTextCharsPerMessage > l.maxTextCharsPerContext) bad("maxTextCharsPerMessage exceeds maxTextCharsPerContext");
  if (l.maxContextsPerSocket > 65536) bad("maxContextsPerSocket above 65536 (context index is 16-bit)");
  for (const [name, p] of Object.entries(c.chunking)) {
    if (!(p.firstMinChars > 0 && p.firstMinChars <= p.maxChars && p.minChars <= p.phraseChars && p.phraseChars <= p.maxChars)) {
      bad(`chunking.${name} must satisfy 0 < firstMinChars <= maxChars and minChars <= phraseChars <= maxChars`);
    }
  }
  if (c.inference.intraOpThreads < 1) bad("inference.intraOpThreads must be >= 1");
}
