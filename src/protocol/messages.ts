/**
 * Wire protocol v1: the single source of truth for every JSON message in both
 * directions. The JSON Schemas in protocol/schemas/ are emitted from these
 * definitions (npm run schemas) and the TypeScript types are derived from them.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { CONTEXT_ID_MAX_LENGTH, CONTEXT_ID_PATTERN } from "./ids.js";

export const PROTOCOL_VERSION = 1;

/** Client-chosen context id: short, printable, safe to log. */
const ContextId = Type.String({ minLength: 1, maxLength: CONTEXT_ID_MAX_LENGTH, pattern: CONTEXT_ID_PATTERN,
  description: "Client-chosen id of the context, unique within the socket while the context is open" });

export const OUTPUT_FORMATS = ["opus", "ogg_opus", "pcm_s16le", "pcm_8000", "pcm_16000", "pcm_24000", "pcm_48000", "mulaw_8000", "alaw_8000"] as const;
export const OutputFormat = Type.Union(OUTPUT_FORMATS.map((f) => Type.Literal(f)), {
  description: "opus: one raw 20 ms Opus packet per binary message; ogg_opus: Ogg pages (RFC 7845); pcm_s16le: 20 ms of mono little-endian 16-bit PCM at the model rate; pcm_<rate>: the same at that rate; mulaw_8000 / alaw_8000: 20 ms of G.711 at 8 kHz (telephony)",
});

export const LATENCY_PROFILES = ["low", "balanced", "quality"] as const;
export const LatencyProfile = Type.Union(LATENCY_PROFILES.map((p) => Type.Literal(p)), { description: "Text chunking schedule: low starts speaking at the first phrase, quality waits for whole sentences" });

// ---- client -> server ----------------------------------------------------

export const CreateContext = Type.Object({
  type: Type.Literal("create_context"),
  context_id: ContextId,
  voice: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Voice name from the model's voices; server default when omitted" })),
  format: Type.Optional(OutputFormat),
  latency: Type.Optional(LatencyProfile),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, description: "Sampling seed. The server also adapts decoding to its load (fewer passes for a chunk that is due soon, queued chunks merged, guidance shed while behind), so the same seed and text give the same audio only when they are chunked and scheduled alike" })),
  pacing: Type.Optional(Type.Union([Type.Literal("realtime"), Type.Literal("burst")], { description: "realtime (default): audio is sent at most the server's lead (300 ms) ahead of real time; burst: as fast as it is generated" })),
  speed: Type.Optional(Type.Number({ minimum: 0.5, maximum: 2, description: "Speaking rate: every phoneme's predicted duration is divided by it (1, the default, is the voice's own pace; > 1 is faster)" })),
}, { additionalProperties: false });

export const AppendText = Type.Object({
  type: Type.Literal("append_text"),
  context_id: ContextId,
  text: Type.String({ description: "The next piece of text; may split words anywhere. Length limits are in the hello message." }),
}, { additionalProperties: false });

export const Flush = Type.Object({
  type: Type.Literal("flush"),
  context_id: ContextId,
}, { additionalProperties: false, description: "Synthesize all buffered text now, even mid-sentence" });

export const EndContext = Type.Object({
  type: Type.Literal("end"),
  context_id: ContextId,
}, { additionalProperties: false, description: "No more text: flush, finish the audio and send context_done" });

export const Cancel = Type.Object({
  type: Type.Literal("cancel"),
  context_id: ContextId,
}, { additionalProperties: false, description: "Stop at once: drop buffered text and pending audio, then send context_done with cancelled=true" });

export const Ping = Type.Object({
  type: Type.Literal("ping"),
  id: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Number()])),
}, { additionalProperties: false });

export const PlaybackReport = Type.Object({
  type: Type.Literal("playback_report"),
  context_id: Type.Optional(ContextId),
  underruns: Type.Integer({ minimum: 0, maximum: 1000000, description: "Playback underruns since the last report" }),
  underrun_ms: Type.Number({ minimum: 0, maximum: 86400000, description: "Stall time since the last report" }),
}, { additionalProperties: false, description: "Optional: the client tells the server how playback went (counted in metrics; no reply)" });

export const CLIENT_MESSAGES = {
  create_context: CreateContext,
  append_text: AppendText,
  flush: Flush,
  end: EndContext,
  cancel: Cancel,
  ping: Ping,
  playback_report: PlaybackReport,
} as const;

export const ClientMessage = Type.Union(Object.values(CLIENT_MESSAGES));
export type ClientMessage = Static<typeof ClientMessage>;
export type ClientMessageType = keyof typeof CLIENT_MESSAGES;
export type CreateContext = Static<typeof CreateContext>;

// ---- server -> client ----------------------------------------------------

const StageTimings = Type.Object({
  g2p_ms: Type.Number(), t2s_ms: Type.Number(), soundstorm_ms: Type.Number(),
  codec_ms: Type.Number(), encode_ms: Type.Number(),
}, { additionalProperties: false, description: "Wall time spent in each stage for this chunk, milliseconds" });

export const Hello = Type.Object({
  type: Type.Literal("hello"),
  protocol_version: Type.Literal(PROTOCOL_VERSION),
  model: Type.String(),
  model_kind: Type.Union([Type.Literal("trained"), Type.Literal("fixture")]),
  voices: Type.Array(Type.String()),
  default_voice: Type.String(),
  formats: Type.Array(OutputFormat),
  limits: Type.Object({
    max_message_bytes: Type.Integer(),
    max_text_chars_per_message: Type.Integer(),
    max_text_chars_per_context: Type.Integer(),
    max_contexts_per_socket: Type.Integer(),
    idle_timeout_s: Type.Integer(),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export const ContextCreated = Type.Object({
  type: Type.Literal("context_created"),
  context_id: ContextId,
  context_index: Type.Integer({ minimum: 0, maximum: 65535, description: "Index carried in the header of this context's binary audio messages. Per socket: from 0, increasing with each context created (not necessarily by one), wrapping from 65535 to 0, never that of a context of the socket not yet done (open or still sending audio); it may be given again once context_done (or inference_failed) has been sent" }),
  voice: Type.String(),
  format: OutputFormat,
  latency: LatencyProfile,
  pacing: Type.Union([Type.Literal("realtime"), Type.Literal("burst")]),
}, { additionalProperties: false });

export const AudioStart = Type.Object({
  type: Type.Literal("audio_start"),
  context_id: ContextId,
  context_index: Type.Integer({ minimum: 0, maximum: 65535 }),
  format: OutputFormat,
  codec: Type.Union([Type.Literal("opus"), Type.Literal("pcm_s16le"), Type.Literal("mulaw"), Type.Literal("alaw")]),
  sample_rate: Type.Integer({ description: "Rate of the decoded audio: 48000 for Opus formats, the payload's rate otherwise" }),
  input_sample_rate: Type.Integer({ description: "Rate the audio was generated at (model rate)" }),
  channels: Type.Literal(1),
  frame_ms: Type.Literal(20),
  pre_skip: Type.Integer({ description: "Samples at 48 kHz to drop from the start of the decoded Opus stream (0 for PCM)" }),
}, { additionalProperties: false });

export const ChunkMetrics = Type.Object({
  type: Type.Literal("chunk_metrics"),
  context_id: ContextId,
  chunk_index: Type.Integer({ minimum: 0 }),
  text: Type.String(),
  phonemes: Type.Integer(),
  codec_frames: Type.Integer({ description: "Codec frames generated for this chunk" }),
  audio_ms: Type.Number(),
  queue_ms: Type.Number({ description: "Time from the chunk being cut to its synthesis starting" }),
  stages: StageTimings,
  soundstorm_passes: Type.Integer(),
  guidance_shed_passes: Type.Optional(Type.Integer({ minimum: 1, description: "Present when the server was behind while this chunk was decoded: this many of its guided SoundStorm passes ran without their unconditional twin (load shedding, config inference.shedGuidanceQueued)" })),
  levels_shed: Type.Optional(Type.Integer({ minimum: 1, description: "Present when the server was far behind while this chunk was decoded: its SoundStorm windows left this many RVQ levels ungenerated in all (the finest ones, past the coarsest inference.shedLevelsKeep; less fine spectral detail; load shedding, config inference.shedLevelsQueued)" })),
  merged_chunks: Type.Optional(Type.Integer({ minimum: 2, description: "Present when the context fell behind and this many consecutive chunks (chunk_index and the ones after it) were synthesized together; the next chunk_metrics then skips their indexes" })),
}, { additionalProperties: false });

export const WordTimestamp = Type.Object({
  word: Type.String({ description: "The written word as it appears in the text" }),
  start_ms: Type.Number({ description: "Turn-relative: milliseconds from the start of this context's audio" }),
  end_ms: Type.Number(),
  char_offset: Type.Integer({ minimum: 0, description: "UTF-16 offset of the word's first character in all text appended to this context" }),
}, { additionalProperties: false });

export const Words = Type.Object({
  type: Type.Literal("words"),
  context_id: ContextId,
  chunk_index: Type.Integer({ minimum: 0 }),
  words: Type.Array(WordTimestamp),
}, { additionalProperties: false, description: "Word timestamps of one chunk, sent after the previous chunk's chunk_metrics and before the previous chunk's held-back frames and this chunk's first audio message (for the first chunk: before audio_start)" });

export const ContextDone = Type.Object({
  type: Type.Literal("context_done"),
  context_id: ContextId,
  cancelled: Type.Boolean(),
  summary: Type.Object({
    ttfa_ms: Type.Union([Type.Number(), Type.Null()], { description: "From the first chunk being cut (phrase complete, flush or end) to the first audio message sent; null if no audio" }),
    audio_seconds: Type.Number({ description: "Audio decoded, in seconds; after a cancel, all audio decoded before it, sent or not" }),
    audio_samples: Type.Integer({ description: "Exact number of audio samples at the model rate (before Opus padding); after a cancel, all audio decoded before it, sent or not" }),
    codec_frames: Type.Integer({ description: "Codec frames generated; after a cancel, only those of chunks whose synthesis had finished" }),
    generation_seconds: Type.Number({ description: "Wall time spent synthesizing (sum over chunks); after a cancel, only chunks whose synthesis had finished" }),
    rtf: Type.Number({ description: "generation_seconds / audio_seconds (after a cancel the two count different audio)" }),
    chunks: Type.Integer({ description: "Chunks synthesized; after a cancel, only those whose synthesis had finished" }),
    frames_sent: Type.Integer({ description: "Binary audio messages of this context handed to the socket: the only field that says what the client got after a cancel" }),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export const ErrorEvent = Type.Object({
  type: Type.Literal("error"),
  code: Type.String({ pattern: "^[a-z][a-z0-9_]*$", description: "Error code (protocol/README.md); not an enum: later servers may add codes, so treat an unknown one as a generic error" }),
  message: Type.String(),
  context_id: Type.Optional(Type.String()),
  retry_after_ms: Type.Optional(Type.Integer({ minimum: 0, description: "With at_capacity and rate_limited: when a retry may succeed" })),
  chunk_index: Type.Optional(Type.Integer({ minimum: 0, description: "With no_speakable_text: the chunk skipped" })),
  text_offset: Type.Optional(Type.Integer({ minimum: 0, description: "On every error refusing an append_text to a context of the socket (text_too_long for the context's total or the API key's per-minute budget, rate_limited, context_ended): the context's text length (UTF-16) when it arrived; its text was not added. Absent from text_too_long for the per-message limit" })),
}, { additionalProperties: false });

export const Pong = Type.Object({
  type: Type.Literal("pong"),
  id: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  server_time_ms: Type.Number({ description: "The server's clock (Date.now()): milliseconds since the Unix epoch, not synchronized with the client's" }),
}, { additionalProperties: false });

export const SERVER_EVENTS = {
  hello: Hello,
  context_created: ContextCreated,
  audio_start: AudioStart,
  chunk_metrics: ChunkMetrics,
  words: Words,
  context_done: ContextDone,
  error: ErrorEvent,
  pong: Pong,
} as const;

export type Hello = Static<typeof Hello>;
export type ContextCreated = Static<typeof ContextCreated>;
export type AudioStart = Static<typeof AudioStart>;
export type ChunkMetrics = Static<typeof ChunkMetrics>;
export type Words = Static<typeof Words>;
export type ContextDone = Static<typeof ContextDone>;
export type ErrorEvent = Static<typeof ErrorEvent>;
export type Pong = Static<typeof Pong>;
export type ServerEvent = Hello | ContextCreated | AudioStart | ChunkMetrics | Words | ContextDone | ErrorEvent | Pong;
export type OutputFormat = Static<typeof OutputFormat>;
export type LatencyProfile = Static<typeof LatencyProfile>;

/** Every schema by file name, for emitting protocol/schemas/. */
export function allSchemas(): Record<string, TSchema> {
  const out: Record<string, TSchema> = {};
  for (const [k, v] of Object.entries(CLIENT_MESSAGES)) out[`client.${k}`] = v;
  for (const [k, v] of Object.entries(SERVER_EVENTS)) out[`server.${k}`] = v;
  return out;
}
