/**
 * Every tunable of the server in one place, with its default. A config is
 * built once at boot (defaults <- environment <- CLI flags), validated, frozen,
 * and passed explicitly; nothing reads process.env after this.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { LATENCY_PROFILES, OUTPUT_FORMATS, type LatencyProfile, type OutputFormat } from "./protocol/messages.js";
import type { ApiKeyConfig } from "./server/auth.js";
import { normalizeOrigin } from "./server/site-check.js";

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
  /** Synthesize complete words anyway when no chunk was cut for this long after text started waiting (ms)... */
  readonly maxDelayMs: number;
  /** ...unless the listener still has more than this much generated audio to play (ms): then the text
   * waits for a phrase boundary (or maxChars, flush, end), which makes fewer, better-cut chunks and less
   * work per second of audio. 0: maxDelayMs always cuts. */
  readonly holdAheadMs: number;
  /** A cut at maxDelayMs waits until this many characters of complete words are buffered (0: any word),
   * so text arriving at about speaking pace (a live captioner's ~3 words/s) is not spoken a word at a time:
   * one-word chunks lose their phrase and read up to 10 points worse (BENCHMARKS.md, session 58)... */
  readonly deadlineMinChars: number;
  /** ...for at most this long after text started waiting (ms): then the words go as they are. */
  readonly deadlineMaxWaitMs: number;
  /** A deadline cut ends mid-phrase, and its last word, said without the words after it, is where streamed text
   * lost words (spoken as a phrase end, then the phrase going on: BENCHMARKS.md, session 59). So that word is made
   * but not spoken: the next chunk starts with it and says it again with what follows. If no chunk has come when
   * the listener has less than this much audio left (ms), the word is spoken as it was made. 0: never held. */
  readonly holdLastWordMs: number;
  /** Codec frames (50 per second) in the stream's first SoundStorm window; the rest of the first
   * chunk follows in later windows. Small: first audio after a fraction of the work. 0: no cap. */
  readonly firstWindowFrames: number;
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
    /** Hard cap read from the frame header: a frame (or fragmented message) above it is never
     * buffered; the frame guard closes the socket with 1009 (without the guard uWS drops the
     * connection and the client sees 1006). Must be >= maxMessageBytes. */
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
    /** Open sockets from one remote address. */
    readonly maxSocketsPerAddress: number;
  };
  readonly chunking: Readonly<Record<LatencyProfile, ChunkPolicy>>;
  readonly inference: {
    /** onnxruntime intra-op threads per session, in each worker. 0: the machine's cores / workers. */
    readonly intraOpThreads: number;
    /** Inference worker threads (each owns a copy of the serving graphs and runs one call at a time).
     * 0: one per core, at most 4 (on 2 cores, two single-threaded workers carried 16 streams with
     * fewer underruns than one two-threaded worker: one runs while the other's batch is sampled). */
    readonly workers: number;
    /** Seed used when a context gives none. */
    readonly defaultSeed: number;
    /** Dynamic batching of SoundStorm passes across contexts (engine/inference-pool.ts). */
    readonly batching: {
      readonly enabled: boolean;
      /** Windows in one model call. */
      readonly maxBatch: number;
      /** Rows x longest window (frames): bounds one call's time, so a first chunk waits at most that long. */
      readonly maxBatchFrames: number;
      /** How long a pass (not of a first chunk) may wait for others to batch with. */
      readonly maxWaitMs: number;
    };
    /** A chunk due within this many ms (its listener's audio runs out by then; a stream's first chunk
     * always) is decoded with the model's `decoding.fast_schedule`, others with `decoding.schedule`. */
    readonly fastScheduleSlackMs: number;
    /** RVQ levels SoundStorm generates, coarse to fine; the rest reach the codec decoder as the
     * manifest's codec.absent_code (adding nothing). 0: all. Fewer levels mean fewer passes per window
     * (4 of 8: 7 instead of 11, or 4 instead of 8 with the fast schedule), so more streams per machine,
     * at the cost of the fine detail the finer levels carry (BENCHMARKS.md, session 25). */
    readonly acousticLevels: number;
    /** Load shedding for models served with guidance (decoding.semantic_guidance: each guided pass runs beside an
     * unconditional twin, twice the SoundStorm work): while at least this many jobs wait in the inference pool's
     * queue (every model call asked for counts, each row of a batch and each half of a guided pair apart, so a
     * guided pass of one stream is 2), guided passes run without their twin, so a machine that falls behind does
     * half the SoundStorm work per level until it catches up, at the cost of the guidance's gain on the chunks
     * decoded meanwhile. 0: never. */
    readonly shedGuidanceQueued: number;
    /** The second step of load shedding, for a machine further behind: while at least this many jobs wait in the
     * queue (counted as for shedGuidanceQueued), a SoundStorm window about to decode a level past the coarsest
     * shedLevelsKeep leaves it and every finer level ungenerated; they reach the codec decoder as its absent code
     * (as with acousticLevels). Asked level by level, window by window. Costs the fine spectral detail of those
     * levels (0.8-1.7 WER points where every window sheds: BENCHMARKS.md session 57). Meant as the deeper step:
     * at or above shedGuidanceQueued (not enforced). 0: never; models whose codec has no absent code never shed
     * levels. */
    readonly shedLevelsQueued: number;
    /** Coarsest levels every window keeps when levels are shed (>= 1; at or above the levels generated, nothing is shed). */
    readonly shedLevelsKeep: number;
    /** A stream's second chunk due within this many ms also gets its profile's firstWindowFrames cap on
     * its first window, so its first audio comes after a short window (a first chunk is often under 0.5 s). */
    readonly urgentSlackMs: number;
    /** Merging a context's queued chunks into one synthesis when it falls behind (each window pays
     * for its tail on every pass, so fewer, longer windows cost less per second of audio). */
    readonly coalesce: {
      readonly enabled: boolean;
      /** Largest merged text, characters. */
      readonly maxChars: number;
    };
  };
  /** Opus encoder bitrate, bits per second. */
  readonly opusBitrate: number;
  /** Opus encoder complexity, 0-10. Encoding runs on the event loop for every stream: at 10 it costs
   * ~2 % of a core per real-time stream here, at 5 ~0.4 % (BENCHMARKS.md), for speech at this bitrate
   * hardly audible. */
  readonly opusComplexity: number;
  readonly pacing: {
    /** Default for contexts that do not choose: realtime (audio at most leadMs ahead of real time) or burst. */
    readonly default: "realtime" | "burst";
    /** How far ahead of real time audio may be sent in realtime mode. */
    readonly leadMs: number;
    /** Realtime mode: generated audio held for the client (not yet sent) above which a context's next chunk
     * waits. Bounds a context's memory when text arrives far faster than it is spoken (a 100-minute text
     * would otherwise be generated and held at once); 20 s is far more than any chunk needs to be ready in time.
     * 0: no cap. */
    readonly maxQueuedMs: number;
  };
  readonly auth: {
    /** API keys (hashed). Empty: only loopback peers may connect. */
    readonly keys: readonly ApiKeyConfig[];
    /** Lifetime of browser tokens minted by POST /v1/tokens. */
    readonly tokenTtlS: number;
    /** HMAC secret for tokens; random per process when null (tokens then die with the process). */
    readonly tokenSecret: string | null;
    /** Limits given to keys that do not set their own. */
    readonly defaultKeyLimits: { readonly maxContexts: number; readonly charsPerMinute: number; readonly maxSockets: number };
    /** Web origins (`scheme://host[:port]`, or "*" for any) whose pages may use the WebSocket and /v1/ routes
     * besides the server's own (server/site-check.ts). Checked without keys always, where the loopback address
     * is all a page needs; with keys only once this list is set. Default: none, same origin only. */
    readonly allowedOrigins: readonly string[];
    /** Host names (no port; "*" for any) accepted in the Host header when no keys are configured, besides IP
     * addresses, `localhost` and `*.localhost` (against DNS rebinding). Default: none. */
    readonly allowedHosts: readonly string[];
  };
  /** The frame guard (server/frame-guard.ts): a TCP/TLS front on the public port, uWS behind it on
   * 127.0.0.1, so that an oversized frame is refused with close code 1009 instead of a dropped
   * connection. Costs one loopback hop per byte (BENCHMARKS.md). */
  readonly frameGuard: {
    /** On by default; off: uWS serves the public port itself (oversized frames then see 1006). */
    readonly enabled: boolean;
    /** Largest HTTP request head through the guard (431 above it). */
    readonly maxHeadBytes: number;
  };
  /** wss:// with this certificate and key (PEM files); null for plain ws://. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  readonly capacity: {
    /** Contexts synthesizing at once on this process; more get at_capacity with a retry hint. */
    readonly maxActiveContexts: number;
  };
  readonly shutdown: {
    /** On SIGTERM: how long running contexts may finish before their sockets are closed (1001). */
    readonly drainTimeoutS: number;
  };
  /** Voice cloning (POST /v1/voices). */
  readonly voices: {
    /** Directory of cloned voices, one <name>.json each (the model's voice format); created on the
     * first clone, read at startup (voices made with another model are skipped). */
    readonly dir: string;
    /** Cloned voices kept at once; more get too_many_voices. 0 disables cloning. */
    readonly maxCloned: number;
    /** Largest upload (WAV or multipart body); larger ones get message_too_large (413). */
    readonly maxUploadBytes: number;
    /** Uploads read or cloned at once (each holds up to maxUploadBytes); more get at_capacity (429, retry_after_ms). */
    readonly maxConcurrentUploads: number;
    /** Speech (leading and trailing silence trimmed) must last at least this long... */
    readonly minSpeechS: number;
    /** ...and at most this long (audio_too_short / audio_too_long). */
    readonly maxSpeechS: number;
    /** Longest upload accepted at all, silence included (audio_too_long). */
    readonly maxAudioS: number;
    /** The voice prompt is the first speech up to this long, cut at the quietest point of its last second. */
    readonly promptMaxS: number;
    /** Longest transcript accepted (characters; text_too_long). */
    readonly maxTranscriptChars: number;
  };
}

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Every load-shedding step off: for tools whose measurements must not depend on the machine's load (evaluations,
 * voice picking), whatever steps the server gains. */
export const NO_LOAD_SHEDDING = { shedGuidanceQueued: 0, shedLevelsQueued: 0 } as const;

export const DEFAULT_CONFIG: ServerConfig = {
  host: "0.0.0.0",
  port: 8080,
  modelDir: resolve(ROOT, "models/default"),
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
    maxSocketsPerAddress: 64,
  },
  chunking: {
    low: { firstMinChars: 2, minChars: 40, phraseChars: 60, maxChars: 200, maxDelayMs: 150, holdAheadMs: 800, deadlineMinChars: 0, deadlineMaxWaitMs: 0, holdLastWordMs: 0, firstWindowFrames: 25 },
    balanced: { firstMinChars: 20, minChars: 60, phraseChars: 100, maxChars: 250, maxDelayMs: 300, holdAheadMs: 2000, deadlineMinChars: 16, deadlineMaxWaitMs: 1200, holdLastWordMs: 400, firstWindowFrames: 40 },
    quality: { firstMinChars: 60, minChars: 100, phraseChars: 180, maxChars: 350, maxDelayMs: 800, holdAheadMs: 2000, deadlineMinChars: 30, deadlineMaxWaitMs: 2400, holdLastWordMs: 400, firstWindowFrames: 0 },
  },
  inference: {
    intraOpThreads: 0,
    workers: 0,
    defaultSeed: 0,
    batching: { enabled: true, maxBatch: 8, maxBatchFrames: 500, maxWaitMs: 1 },
    fastScheduleSlackMs: 3000,
    acousticLevels: 0,
    shedGuidanceQueued: 4,
    shedLevelsQueued: 8,
    shedLevelsKeep: 4,
    urgentSlackMs: 700,
    coalesce: { enabled: true, maxChars: 240 },
  },
  opusBitrate: 32_000,
  opusComplexity: 5,
  pacing: { default: "realtime", leadMs: 300, maxQueuedMs: 20_000 },
  auth: { keys: [], tokenTtlS: 300, tokenSecret: null, defaultKeyLimits: { maxContexts: 16, charsPerMinute: 60_000, maxSockets: 8 },
    allowedOrigins: [], allowedHosts: [] },
  frameGuard: { enabled: true, maxHeadBytes: 16 * 1024 },
  tls: null,
  capacity: { maxActiveContexts: 24 },
  shutdown: { drainTimeoutS: 30 },
  voices: {
    dir: resolve(ROOT, "data/voices"),
    maxCloned: 32,
    maxUploadBytes: 8 * 1024 * 1024,
    maxConcurrentUploads: 2,
    minSpeechS: 3,
    maxSpeechS: 10,
    maxAudioS: 30,
    promptMaxS: 4,
    maxTranscriptChars: 1000,
  },
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

/** Inference workers: as configured, or one per core (at most 4). */
export function inferenceWorkers(config: ServerConfig): number {
  const w = config.inference.workers;
  return w > 0 ? w : Math.max(1, Math.min(4, availableParallelism()));
}

/** Threads per onnxruntime session: as configured, or the machine's cores shared among the workers. */
export function intraOpThreads(config: ServerConfig): number {
  const t = config.inference.intraOpThreads;
  return t > 0 ? t : Math.max(1, Math.floor(availableParallelism() / inferenceWorkers(config)));
}

function boolEnv(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const l = v.toLowerCase();
  if (!["0", "1", "true", "false", "on", "off"].includes(l)) throw new Error(`${name} must be 1 or 0, got ${JSON.stringify(v)}`);
  return l === "1" || l === "true" || l === "on";
}

/** Environment variables the server reads (documented in README.md). */
export function fromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const o: Record<string, unknown> = {};
  const port = intEnv(env, "PORT");
  if (port !== undefined) o.port = port;
  if (env.HOST) o.host = env.HOST;
  if (env.SOUNDSTORM_MODEL) o.modelDir = resolve(env.SOUNDSTORM_MODEL);
  const inference: Record<string, unknown> = {};
  const threads = intEnv(env, "SOUNDSTORM_THREADS");
  if (threads !== undefined) inference.intraOpThreads = threads;
  const workers = intEnv(env, "SOUNDSTORM_WORKERS");
  if (workers !== undefined) inference.workers = workers;
  const batching = boolEnv(env, "SOUNDSTORM_BATCHING");
  if (batching !== undefined) inference.batching = { ...DEFAULT_CONFIG.inference.batching, enabled: batching };
  const levels = intEnv(env, "SOUNDSTORM_ACOUSTIC_LEVELS");
  if (levels !== undefined) inference.acousticLevels = levels;
  const shed = intEnv(env, "SOUNDSTORM_SHED_GUIDANCE_QUEUED");
  if (shed !== undefined) inference.shedGuidanceQueued = shed;
  const shedLevels = intEnv(env, "SOUNDSTORM_SHED_LEVELS_QUEUED");
  if (shedLevels !== undefined) inference.shedLevelsQueued = shedLevels;
  const keepLevels = intEnv(env, "SOUNDSTORM_SHED_LEVELS_KEEP");
  if (keepLevels !== undefined) inference.shedLevelsKeep = keepLevels;
  const coalesce = boolEnv(env, "SOUNDSTORM_COALESCE");
  if (coalesce !== undefined) inference.coalesce = { ...DEFAULT_CONFIG.inference.coalesce, enabled: coalesce };
  if (Object.keys(inference).length) o.inference = inference;
  const maxContexts = intEnv(env, "SOUNDSTORM_MAX_CONTEXTS");
  if (maxContexts !== undefined) o.capacity = { maxActiveContexts: maxContexts };
  if (env.SOUNDSTORM_VOICES_DIR) o.voices = { dir: resolve(env.SOUNDSTORM_VOICES_DIR) };
  const maxCloned = intEnv(env, "SOUNDSTORM_MAX_CLONED_VOICES");
  if (maxCloned !== undefined) o.voices = { ...(o.voices as object), maxCloned };
  const keys = [...keysFromFile(env.SOUNDSTORM_KEYS_FILE), ...keysFromList(env.SOUNDSTORM_API_KEYS)];
  if (keys.length) o.auth = { keys };
  if (env.SOUNDSTORM_TOKEN_SECRET) o.auth = { ...(o.auth as object), tokenSecret: env.SOUNDSTORM_TOKEN_SECRET };
  const list = (v: string | undefined) => (v ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  if (env.SOUNDSTORM_ALLOWED_ORIGINS) o.auth = { ...(o.auth as object), allowedOrigins: list(env.SOUNDSTORM_ALLOWED_ORIGINS) };
  if (env.SOUNDSTORM_ALLOWED_HOSTS) o.auth = { ...(o.auth as object), allowedHosts: list(env.SOUNDSTORM_ALLOWED_HOSTS) };
  const guard = boolEnv(env, "SOUNDSTORM_FRAME_GUARD");
  if (guard !== undefined) o.frameGuard = { enabled: guard };
  if (env.SOUNDSTORM_TLS_CERT || env.SOUNDSTORM_TLS_KEY) {
    if (!env.SOUNDSTORM_TLS_CERT || !env.SOUNDSTORM_TLS_KEY) throw new Error("set both SOUNDSTORM_TLS_CERT and SOUNDSTORM_TLS_KEY");
    o.tls = { certFile: resolve(env.SOUNDSTORM_TLS_CERT), keyFile: resolve(env.SOUNDSTORM_TLS_KEY) };
  }
  return o as ConfigOverrides;
}

type KeyEntry = { id?: unknown; sha256?: unknown; max_contexts?: unknown; chars_per_minute?: unknown; max_sockets?: unknown };

function keyFrom(e: KeyEntry, where: string): ApiKeyConfig {
  const d = DEFAULT_CONFIG.auth.defaultKeyLimits;
  if (typeof e.id !== "string" || !e.id) throw new Error(`${where}: key needs an 'id'`);
  if (typeof e.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) throw new Error(`${where}: key '${e.id}' needs 'sha256' (64 hex digits; soundstorm hash-key KEY prints it)`);
  const n = (v: unknown, def: number, name: string) => {
    if (v === undefined) return def;
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${where}: key '${e.id}' ${name} must be a positive integer`);
    return v as number;
  };
  return { id: e.id, sha256: e.sha256.toLowerCase(), maxContexts: n(e.max_contexts, d.maxContexts, "max_contexts"),
    charsPerMinute: n(e.chars_per_minute, d.charsPerMinute, "chars_per_minute"), maxSockets: n(e.max_sockets, d.maxSockets, "max_sockets") };
}

/** JSON file: [{"id","sha256","max_contexts"?,"chars_per_minute"?,"max_sockets"?}, ...] */
function keysFromFile(path: string | undefined): ApiKeyConfig[] {
  if (!path) return [];
  const data = JSON.parse(readFileSync(path, "utf8")) as unknown;
  if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of keys`);
  return data.map((e) => keyFrom(e as KeyEntry, path));
}

/** SOUNDSTORM_API_KEYS="id:sha256[:max_contexts:chars_per_minute:max_sockets],..." */
function keysFromList(list: string | undefined): ApiKeyConfig[] {
  if (!list) return [];
  return list.split(",").filter(Boolean).map((item) => {
    const [id, sha256, mc, cpm, ms] = item.split(":");
    const num = (v: string | undefined) => (v ? Number(v) : undefined);
    return keyFrom({ id, sha256, max_contexts: num(mc), chars_per_minute: num(cpm), max_sockets: num(ms) }, "SOUNDSTORM_API_KEYS");
  });
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

/** `scheme://host[:port]` (a trailing slash allowed), nothing more. */
function isOriginOnly(o: string): boolean {
  if (normalizeOrigin(o) === null) return false;
  const u = new URL(o);
  return u.pathname === "/" && !u.search && !u.hash && !u.username;
}

function validate(c: ServerConfig): void {
  const bad = (m: string) => { throw new Error(`invalid config: ${m}`); };
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) bad(`port ${c.port}`);
  const l = c.limits;
  for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v <= 0) bad(`limits.${k} must be a positive integer`);
  if (l.maxFrameBytes < l.maxMessageBytes) bad("maxFrameBytes below maxMessageBytes");
  if (l.maxTextCharsPerMessage > l.maxTextCharsPerContext) bad("maxTextCharsPerMessage exceeds maxTextCharsPerContext");
  if (l.maxContextsPerSocket > 65536) bad("maxContextsPerSocket above 65536 (context index is 16-bit)");
  // uWS aborts the process (not a catchable error) on other idle timeouts
  if (l.idleTimeoutS < 8 || l.idleTimeoutS > 960) bad("limits.idleTimeoutS must be 8-960 (uWebSockets.js' range)");
  if (l.slowConsumerBytes > l.maxBackpressureBytes) bad("limits.slowConsumerBytes above maxBackpressureBytes (the warning could never come first)");
  if (!(OUTPUT_FORMATS as readonly string[]).includes(c.defaultFormat)) bad(`defaultFormat must be one of ${OUTPUT_FORMATS.join(", ")}`);
  if (!(LATENCY_PROFILES as readonly string[]).includes(c.defaultLatency)) bad(`defaultLatency must be one of ${LATENCY_PROFILES.join(", ")}`);
  if (!["realtime", "burst"].includes(c.pacing.default)) bad("pacing.default must be realtime or burst");
  if (!(c.pacing.leadMs >= 0 && Number.isFinite(c.pacing.leadMs))) bad("pacing.leadMs must be a finite number >= 0");
  if (!Number.isInteger(c.opusBitrate) || c.opusBitrate < 6000 || c.opusBitrate > 510_000) bad("opusBitrate must be an integer 6000-510000 (Opus' range)");
  if (!Number.isInteger(c.auth.tokenTtlS) || c.auth.tokenTtlS <= 0) bad("auth.tokenTtlS must be a positive integer");
  for (const [name, p] of Object.entries(c.chunking)) {
    if (!(p.firstMinChars > 0 && p.firstMinChars <= p.maxChars && p.minChars <= p.phraseChars && p.phraseChars <= p.maxChars)) {
      bad(`chunking.${name} must satisfy 0 < firstMinChars <= maxChars and minChars <= phraseChars <= maxChars`);
    }
    if (!Number.isInteger(p.firstWindowFrames) || p.firstWindowFrames < 0) bad(`chunking.${name}.firstWindowFrames must be an integer >= 0`);
    if (!(p.maxDelayMs >= 0 && Number.isFinite(p.maxDelayMs))) bad(`chunking.${name}.maxDelayMs must be a finite number >= 0`);
    if (!(p.holdAheadMs >= 0 && Number.isFinite(p.holdAheadMs))) bad(`chunking.${name}.holdAheadMs must be a finite number >= 0 (0: never hold)`);
    if (!(Number.isInteger(p.deadlineMinChars) && p.deadlineMinChars >= 0 && p.deadlineMinChars <= p.maxChars)) {
      bad(`chunking.${name}.deadlineMinChars must be an integer from 0 to maxChars`);
    }
    if (!(p.deadlineMaxWaitMs >= 0 && Number.isFinite(p.deadlineMaxWaitMs))) bad(`chunking.${name}.deadlineMaxWaitMs must be a finite number >= 0`);
    if (!(p.holdLastWordMs >= 0 && Number.isFinite(p.holdLastWordMs))) bad(`chunking.${name}.holdLastWordMs must be a finite number >= 0`);
  }
  if (!Number.isInteger(c.opusComplexity) || c.opusComplexity < 0 || c.opusComplexity > 10) bad("opusComplexity must be an integer 0-10");
  if (typeof c.frameGuard.enabled !== "boolean") bad("frameGuard.enabled must be a boolean");
  if (!Number.isInteger(c.frameGuard.maxHeadBytes) || c.frameGuard.maxHeadBytes < 1024) bad("frameGuard.maxHeadBytes must be an integer >= 1024");
  if (!Number.isInteger(c.inference.intraOpThreads) || c.inference.intraOpThreads < 0) bad("inference.intraOpThreads must be an integer >= 0 (0: automatic)");
  if (!Number.isInteger(c.inference.workers) || c.inference.workers < 0) bad("inference.workers must be an integer >= 0 (0: automatic)");
  const b = c.inference.batching;
  if (!(b.maxBatch >= 1 && b.maxBatchFrames >= 1 && b.maxWaitMs >= 0)) bad("inference.batching needs maxBatch >= 1, maxBatchFrames >= 1, maxWaitMs >= 0");
  if (!(c.inference.coalesce.maxChars >= 1)) bad("inference.coalesce.maxChars must be >= 1");
  if (!(c.inference.fastScheduleSlackMs >= 0)) bad("inference.fastScheduleSlackMs must be >= 0");
  if (!Number.isInteger(c.inference.acousticLevels) || c.inference.acousticLevels < 0) bad("inference.acousticLevels must be an integer >= 0 (0: all)");
  if (!Number.isInteger(c.inference.shedGuidanceQueued) || c.inference.shedGuidanceQueued < 0) bad("inference.shedGuidanceQueued must be an integer >= 0 (0: never)");
  if (!Number.isInteger(c.inference.shedLevelsQueued) || c.inference.shedLevelsQueued < 0) bad("inference.shedLevelsQueued must be an integer >= 0 (0: never)");
  if (!Number.isInteger(c.inference.shedLevelsKeep) || c.inference.shedLevelsKeep < 1) bad("inference.shedLevelsKeep must be an integer >= 1");
  if (!(c.inference.urgentSlackMs >= 0)) bad("inference.urgentSlackMs must be >= 0");
  if (!(c.pacing.maxQueuedMs >= 0)) bad("pacing.maxQueuedMs must be >= 0 (0: no cap)");
  if (!(c.capacity.maxActiveContexts >= 1)) bad("capacity.maxActiveContexts must be >= 1");
  if (!(c.shutdown.drainTimeoutS >= 0)) bad("shutdown.drainTimeoutS must be >= 0");
  const v = c.voices;
  if (!v.dir) bad("voices.dir must be a directory");
  if (!Number.isInteger(v.maxCloned) || v.maxCloned < 0) bad("voices.maxCloned must be an integer >= 0");
  if (!Number.isInteger(v.maxUploadBytes) || v.maxUploadBytes <= 44) bad("voices.maxUploadBytes must be an integer > 44");
  if (!Number.isInteger(v.maxTranscriptChars) || v.maxTranscriptChars <= 0) bad("voices.maxTranscriptChars must be a positive integer");
  if (!Number.isInteger(v.maxConcurrentUploads) || v.maxConcurrentUploads <= 0) bad("voices.maxConcurrentUploads must be a positive integer");
  if (!(v.minSpeechS > 0 && v.minSpeechS <= v.maxSpeechS && v.maxSpeechS <= v.maxAudioS)) bad("voices: need 0 < minSpeechS <= maxSpeechS <= maxAudioS");
  if (!(v.promptMaxS >= v.minSpeechS)) bad("voices.promptMaxS must be >= minSpeechS");
  for (const o of c.auth.allowedOrigins) {
    if (o !== "*" && !isOriginOnly(o)) bad(`auth.allowedOrigins: '${o}' is not an origin (scheme://host[:port], no path) or "*"`);
  }
  for (const h of c.auth.allowedHosts) {
    if (h !== "*" && !/^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/i.test(h)) bad(`auth.allowedHosts: '${h}' is not a host name (no scheme, no port) or "*"`);
  }
  const ids = new Set<string>();
  for (const k of c.auth.keys) {
    if (ids.has(k.id)) bad(`duplicate API key id '${k.id}'`);
    ids.add(k.id);
  }
}
