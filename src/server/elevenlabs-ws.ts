/**
 * ElevenLabs-compatible input streaming, so agent frameworks written for ElevenLabs (Pipecat's
 * ElevenLabsTTSService, LiveKit Agents' elevenlabs plugin) can use this server by changing their
 * base URL: `/v1/text-to-speech/{voice_id}/stream-input` (one context per socket) and
 * `/v1/text-to-speech/{voice_id}/multi-stream-input` (contexts named by the client's context_id).
 *
 * The session translates ElevenLabs JSON into native protocol messages for a Connection, so
 * admission, per-key limits, rate limits, text limits and metrics are exactly the native ones, and
 * translates the native events back: each synthesized chunk becomes one
 * `{"audio": base64, "alignment": ...}` message, then `{"isFinal": true}` ends the context.
 * Knows nothing of uWS (protocol/README.md, "ElevenLabs-compatible route", documents the mapping).
 */
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ServiceError } from "../errors.js";
import { decodeAudioMessage } from "../protocol/audio-header.js";
import type { ClientMessage, OutputFormat, ServerEvent, Words } from "../protocol/messages.js";
import { Connection, type ConnectionDeps } from "../session/connection.js";
import type { Synthesizer } from "../synth/synthesizer.js";

export type ElevenLabsMode = "single" | "multi";

/** ElevenLabs output_format values we can produce: raw PCM (16-bit LE) or G.711, as ElevenLabs sends them. */
const FORMATS: Readonly<Record<string, { format: OutputFormat; bytesPerMs: number }>> = {
  pcm_8000: { format: "pcm_8000", bytesPerMs: 16 },
  pcm_16000: { format: "pcm_16000", bytesPerMs: 32 },
  pcm_24000: { format: "pcm_24000", bytesPerMs: 48 },
  pcm_48000: { format: "pcm_48000", bytesPerMs: 96 },
  ulaw_8000: { format: "mulaw_8000", bytesPerMs: 8 },
  alaw_8000: { format: "alaw_8000", bytesPerMs: 8 },
};
export const ELEVENLABS_FORMATS = Object.keys(FORMATS);

export interface ElevenLabsParams {
  readonly mode: ElevenLabsMode;
  readonly voice: string;
  readonly format: OutputFormat;
  readonly bytesPerMs: number;
  /** auto_mode=true: the client sends whole sentences or phrases, each is synthesized at once (no chunk schedule). */
  readonly autoMode: boolean;
}

/** Read the route's path parameter and query at the upgrade; throws unknown_voice or invalid_message (refused there). */
export function parseElevenLabsParams(mode: ElevenLabsMode, rawVoice: string, query: string, synth: Synthesizer): ElevenLabsParams {
  let voice = rawVoice;
  try { voice = decodeURIComponent(rawVoice); } catch { /* not percent-encoded: keep it as sent */ }
  if (!synth.hasVoice(voice)) throw new ServiceError("unknown_voice", `${voice}; available: ${synth.voices.join(", ")}`);
  const q = new URLSearchParams(query);
  // ElevenLabs' own default is MP3, which this server does not produce: say so rather than send PCM the client cannot play
  const asked = q.get("output_format") ?? "mp3_44100_128";
  const f = Object.hasOwn(FORMATS, asked) ? FORMATS[asked] : undefined;
  if (!f) throw new ServiceError("invalid_message", `output_format '${asked}' is not supported; use one of ${ELEVENLABS_FORMATS.join(", ")}`);
  return { mode, voice, format: f.format, bytesPerMs: f.bytesPerMs, autoMode: q.get("auto_mode") === "true" };
}

/**
 * The fields we act on. Everything else ElevenLabs clients send (voice_settings, generation_config,
 * try_trigger_generation, pronunciation_dictionary_locators, xi_api_key) is accepted and ignored.
 */
const InMessage = Type.Object({
  text: Type.Optional(Type.String()),
  context_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  flush: Type.Optional(Type.Boolean()),
  close_context: Type.Optional(Type.Boolean()),
  close_socket: Type.Optional(Type.Boolean()),
});
type InMessage = Static<typeof InMessage>;
const checkIn = TypeCompiler.Compile(InMessage);

function parseInMessage(raw: string): InMessage {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new ServiceError("invalid_json", (e as Error).message);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ServiceError("invalid_message", "expected a JSON object");
  // clients written in Python send None for options they leave unset
  const obj = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
  if (!checkIn.Check(obj)) {
    const e = checkIn.Errors(obj).First();
    throw new ServiceError("invalid_message", `${e?.path || "/"}: ${e?.message}`);
  }
  return obj;
}

/** What the session needs from the socket. */
export interface ElevenLabsOut {
  sendText(json: string): void;
  close(code: number, reason: string): void;
}

type WordTime = Words["words"][number];

/** Audio gathered into one message after a turn's first (ms): base64 JSON per 20 ms frame would be mostly overhead. */
const AUDIO_MESSAGE_MS = 200;

interface Turn {
  /** The client's context_id; undefined on the single-context route, whose replies carry none. */
  readonly clientId: string | undefined;
  /** Our native context id (client ids may be any string; native ones are restricted). */
  readonly id: string;
  index: number;
  ending: boolean;
  /** All text appended; the words event's char offsets point into it. */
  text: string;
  /** Text before this offset is already in a sent alignment. */
  emittedTo: number;
  lastChar: string;
  words: WordTime[];
  audio: Uint8Array[];
  /** Audio already sent, ms: the start of the next message on the turn's timeline. */
  sentMs: number;
  /** Between a chunk's chunk_metrics and the next chunk's words: audio now is the codec's held-back tail,
   * released by a flush (or the next chunk); it goes out at once, nothing else would send it. */
  betweenChunks: boolean;
}

interface TimedChar {
  readonly ch: string;
  /** Turn-relative start, ms. */
  readonly ms: number;
}

interface Alignment {
  chars: string[];
  charStartTimesMs: number[];
  charDurationsMs: number[];
  /** The same durations under the name ElevenLabs' API reference uses (the live API and Pipecat use charDurationsMs). */
  charsDurationsMs: number[];
}

/** Multi-context messages without a context_id go to this one, as on ElevenLabs. */
const DEFAULT_CONTEXT = "default";

export class ElevenLabsSession {
  private readonly conn: Connection;
  private readonly turns = new Map<string, Turn>();
  private readonly byClient = new Map<string, Turn>();
  private readonly byIndex = new Map<number, Turn>();
  private nextId = 0;
  /** close_socket (or end of input on the single-context route): close once every context is final. */
  private closing = false;
  /** The native context id of the message being relayed, while it is. */
  private relaying: string | null = null;
  /** Set when the native connection answers the message being relayed with an error about its context. */
  private rejected = false;

  constructor(private readonly params: ElevenLabsParams, deps: ConnectionDeps, private readonly out: ElevenLabsOut) {
    this.conn = new Connection(deps, { sendJson: (ev) => this.onEvent(ev), sendBinary: (b) => this.onAudio(b) });
  }

  get openContexts(): number {
    return this.conn.openContexts;
  }

  onText(raw: string): void {
    let msg: InMessage;
    try {
      msg = parseInMessage(raw);
    } catch (e) {
      this.conn.reportError(e);
      return;
    }
    if (this.params.mode === "single") this.single(msg); else this.multi(msg);
  }

  onBinary(): void {
    this.conn.onBinary();
  }

  onClose(): void {
    this.conn.onClose();
  }

  reportError(e: unknown): void {
    this.conn.reportError(e);
  }

  /** stream-input: the first message opens the context, {"text": ""} ends the input; the socket closes after isFinal. */
  private single(msg: InMessage): void {
    const turn = this.byClient.get("");
    if (msg.text === "" || msg.close_socket) {
      this.closing = true;
      if (turn && !turn.ending) this.end(turn);
      this.maybeClose();
      return;
    }
    const t = turn ?? this.open(undefined);
    if (t && !t.ending) this.feed(t, msg);
  }

  /** multi-stream-input: text for an unknown context_id opens it; {"text": ""} is a keepalive; close_context ends one. */
  private multi(msg: InMessage): void {
    if (msg.close_socket) {
      this.closing = true;
      for (const t of this.turns.values()) if (!t.ending) this.end(t);
      this.maybeClose();
      return;
    }
    const key = msg.context_id ?? DEFAULT_CONTEXT;
    let turn = this.byClient.get(key);
    if (!turn) {
      // a keepalive, flush or close for a context that is not open (finished, or never opened) has nothing to act on
      if (!msg.text || this.closing) return;
      turn = this.open(key);
      if (!turn) return;
    }
    if (turn.ending) return;
    this.feed(turn, msg);
    if (msg.close_context) this.end(turn);
  }

  private open(clientId: string | undefined): Turn | undefined {
    const turn: Turn = {
      clientId, id: `el${this.nextId++}`, index: -1, ending: false, text: "", emittedTo: 0, lastChar: "",
      words: [], audio: [], sentMs: 0, betweenChunks: false,
    };
    this.turns.set(turn.id, turn);
    this.byClient.set(clientId ?? "", turn);
    // burst: ElevenLabs sends audio as fast as it is generated and its clients buffer for playback
    const ok = this.relay({ type: "create_context", context_id: turn.id, voice: this.params.voice, format: this.params.format, pacing: "burst" });
    return ok ? turn : undefined;
  }

  private feed(turn: Turn, msg: InMessage): void {
    if (msg.text && this.relay({ type: "append_text", context_id: turn.id, text: msg.text })) turn.text += msg.text;
    if (msg.flush || (this.params.autoMode && msg.text?.trim())) this.relay({ type: "flush", context_id: turn.id });
  }

  private end(turn: Turn): void {
    turn.ending = true;
    this.relay({ type: "end", context_id: turn.id });
  }

  /** Hand one native message to the connection; false if it answered with an error (which onEvent has relayed). */
  private relay(msg: ClientMessage & { context_id: string }): boolean {
    // only an error naming this message's context refuses it: a socket-level warning raised meanwhile (a send
    // inside the relay passing slowConsumerBytes) is no answer to it
    this.rejected = false;
    this.relaying = msg.context_id;
    try {
      this.conn.onText(JSON.stringify(msg));
    } finally {
      this.relaying = null;
    }
    return !this.rejected;
  }

  private onEvent(ev: ServerEvent): void {
    const turn = "context_id" in ev && ev.context_id !== undefined ? this.turns.get(ev.context_id) : undefined;
    switch (ev.type) {
      case "context_created":
        if (turn) { turn.index = ev.context_index; this.byIndex.set(ev.context_index, turn); }
        return;
      case "words":
        if (turn) { turn.words.push(...ev.words); turn.betweenChunks = false; }
        return;
      case "chunk_metrics":
        if (turn) { this.sendAudio(turn, false); turn.betweenChunks = true; }
        return;
      case "context_done":
        if (turn) { this.sendAudio(turn, true); this.finish(turn); }
        return;
      case "error":
        if (ev.context_id !== undefined && ev.context_id === this.relaying) this.rejected = true;
        // ElevenLabs clients treat any error as fatal: a chunk with nothing to say is skipped and the context goes
        // on, and slow_consumer is a warning (the socket is closed with 4001 only if the backlog keeps growing)
        if (ev.code === "no_speakable_text" || ev.code === "slow_consumer") return;
        this.out.sendText(JSON.stringify({
          error: ev.code, message: ev.message, ...this.contextField(turn),
          ...(ev.retry_after_ms !== undefined ? { retry_after_ms: ev.retry_after_ms } : {}),
        }));
        // the native context never opened, or the failure closed it: end the client's context too
        if (turn && (turn.index < 0 || ev.code === "inference_failed")) this.finish(turn);
        return;
      default:
        return;  // audio_start, pong, hello: nothing to relay
    }
  }

  private onAudio(bytes: Uint8Array): void {
    const { header, payload } = decodeAudioMessage(bytes);
    const turn = this.byIndex.get(header.contextIndex);
    if (!turn) return;
    turn.audio.push(payload);
    // the turn's first audio goes out at once (time to first audio); later audio in messages of about
    // AUDIO_MESSAGE_MS, so a long chunk streams window by window instead of arriving whole at its end
    const buffered = turn.audio.reduce((n, a) => n + a.length, 0) / this.params.bytesPerMs;
    if (turn.sentMs === 0 || buffered >= AUDIO_MESSAGE_MS || turn.betweenChunks) this.sendAudio(turn, false);
  }

  private contextField(turn: Turn | undefined): { contextId?: string } {
    return turn?.clientId !== undefined ? { contextId: turn.clientId } : {};
  }

  /** One message with the audio gathered since the last one and the characters whose sound starts in it. */
  private sendAudio(turn: Turn, final: boolean): void {
    const bytes = Buffer.concat(turn.audio);
    turn.audio = [];
    if (bytes.length === 0) return;
    const durMs = bytes.length / this.params.bytesPerMs;
    const alignment = toAlignment(takeChars(turn, turn.sentMs + durMs, final), turn.sentMs, durMs);
    turn.sentMs += durMs;
    this.out.sendText(JSON.stringify({
      audio: bytes.toString("base64"), isFinal: false, normalizedAlignment: alignment, alignment, ...this.contextField(turn),
    }));
  }

  private finish(turn: Turn): void {
    this.turns.delete(turn.id);
    if (this.byClient.get(turn.clientId ?? "") === turn) this.byClient.delete(turn.clientId ?? "");
    if (this.byIndex.get(turn.index) === turn) this.byIndex.delete(turn.index);
    this.out.sendText(JSON.stringify({ isFinal: true, ...this.contextField(turn) }));
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.closing && this.turns.size === 0) this.out.close(1000, "done");
  }
}

/**
 * The characters of the words whose sound starts before `endMs` (all of them when final), with
 * turn-relative start times: a word's letters share its span evenly; the spaces and punctuation
 * after it start at its end. Text no words event covered (a skipped chunk) rides along in order.
 */
export function takeChars(turn: Pick<Turn, "text" | "emittedTo" | "lastChar" | "words">, endMs: number, final: boolean): TimedChar[] {
  const out: TimedChar[] = [];
  const push = (s: string, ms: number, spanMs = 0) => {
    let i = 0;
    for (const ch of s) { out.push({ ch, ms: ms + (spanMs * i) / s.length }); i += ch.length; }
  };
  const last = () => out.at(-1)?.ch ?? turn.lastChar;
  let n = 0;
  while (n < turn.words.length && (final || turn.words[n].start_ms < endMs)) n++;
  for (const w of turn.words.splice(0, n)) {
    const lead = turn.text.slice(turn.emittedTo, w.char_offset);
    // clients rebuild words by splitting on spaces: keep words apart even when the text had none ("voice." + "It")
    if (last() && !/\s/.test(last()) && !/\s/.test(lead)) push(" ", w.start_ms);
    push(lead, w.start_ms);
    const end = w.char_offset + w.word.length;
    push(turn.text.slice(w.char_offset, end), w.start_ms, w.end_ms - w.start_ms);
    const trail = /^[^\p{L}\p{N}]*/u.exec(turn.text.slice(end))![0];
    push(trail, w.end_ms);
    turn.emittedTo = Math.max(turn.emittedTo, end + trail.length);
  }
  if (final) {
    const at = out.at(-1)?.ms ?? 0;
    push(turn.text.slice(turn.emittedTo), at);
    turn.emittedTo = turn.text.length;
    // ends with a space, as ElevenLabs' alignments do, so the last word is complete for clients that wait for one
    if (last() && !/\s/.test(last())) push(" ", at);
  }
  turn.lastChar = last();
  return out;
}

/**
 * ElevenLabs alignment of one audio message: times relative to the message's first sample, the
 * characters tiling it (each lasts until the next starts, the last until the message ends), so a
 * client summing each message's last start + duration, as Pipecat does, stays on our timeline.
 */
export function toAlignment(chars: readonly TimedChar[], startMs: number, durMs: number): Alignment {
  const total = Math.round(durMs);
  // a message with no character starting in it (a pause) still spans its audio
  const cs = chars.length ? chars : [{ ch: " ", ms: startMs }];
  const starts: number[] = [];
  let prev = 0;
  for (const c of cs) {
    prev = Math.min(total, Math.max(prev, Math.round(c.ms - startMs)));
    starts.push(prev);
  }
  const durs = starts.map((s, i) => (i + 1 < starts.length ? starts[i + 1] : total) - s);
  return { chars: cs.map((c) => c.ch), charStartTimesMs: starts, charDurationsMs: durs, charsDurationsMs: durs };
}
