/**
 * Client SDK for the wire protocol (protocol/README.md), for browsers and Node.
 *
 * This module has no Node-only imports, so browsers can load it as it is compiled (the demo page
 * does, from /static/sdk/client.js). It needs a WebSocket constructor: `options.WebSocket`, else
 * `globalThis.WebSocket`. In Node use `connect` from `./node.js`, which passes the `ws` package's.
 *
 *   const client = await SoundstormClient.connect({ url: "ws://localhost:8080/v1/stream", apiKey });
 *   const ctx = client.createContext({ voice: "slt", format: "ogg_opus" });
 *   ctx.append("Hello there, "); ctx.append("how are you?"); ctx.end();
 *   for await (const frame of ctx.frames()) write(frame.payload);
 *   const { summary } = await ctx.done;
 *
 * Contexts still open when the socket drops fail with a DisconnectedError (their `done` rejects,
 * their iterators throw); the client may reconnect (exponential backoff with jitter) but never
 * replays a context: the caller decides what to say again.
 */
import { decodeAudioMessage, FLAG_CHUNK_START, FLAG_FIRST, FLAG_LAST, type AudioHeader } from "../protocol/audio-header.js";
import { CONTEXT_ID_MAX_LENGTH, isValidContextId } from "../protocol/ids.js";
// type-only: messages.ts pulls in TypeBox at run time, which the browser path must not load
import type {
  AudioStart, ChunkMetrics, ContextCreated, ContextDone, ErrorEvent, Hello, LatencyProfile, OutputFormat, Pong, ServerEvent, Words,
} from "../protocol/messages.js";

export type { AudioStart, ChunkMetrics, ContextCreated, ContextDone, ErrorEvent, Hello, LatencyProfile, OutputFormat, Pong, ServerEvent, Words };

/** The subprotocol the server answers; offered on every connection (browsers fail a handshake that offers only `key.*`). */
export const SUBPROTOCOL = "soundstorm.v1";

// ---- WebSocket abstraction -------------------------------------------------

/** What the SDK uses of a WebSocket: the browser API, which the `ws` package also implements. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

// ---- errors ------------------------------------------------------------------

/** An error of the SDK: `code` is the server's error code (protocol README) or one of the SDK's own. */
export class SoundstormError extends Error {
  override name = "SoundstormError";
  constructor(
    readonly code: string,
    message: string,
    readonly contextId?: string,
    /** With at_capacity and rate_limited: when a retry may succeed. */
    readonly retryAfterMs?: number,
    /** The server's error event, when the error came from the server. */
    readonly event?: ErrorEvent,
  ) {
    super(message);
  }

  static fromEvent(ev: ErrorEvent): SoundstormError {
    return new SoundstormError(ev.code, `${ev.code}: ${ev.message}`, ev.context_id, ev.retry_after_ms, ev);
  }
}

/** The connection could not be opened (refused at the upgrade, unreachable, no hello in time). */
export class ConnectError extends SoundstormError {
  override name = "ConnectError";
  constructor(message: string) {
    super("connect_failed", message);
  }
}

/**
 * The socket went away while a context (or ping) was open: code `disconnected` when it dropped or
 * the server closed it, `closed` after `client.close()`.
 */
export class DisconnectedError extends SoundstormError {
  override name = "DisconnectedError";
  constructor(code: "disconnected" | "closed", readonly closeCode: number, readonly reason: string, contextId?: string) {
    super(code, code === "closed" ? "the client was closed" : `the socket closed (${closeCode}${reason ? ` ${reason}` : ""})`, contextId);
  }
}

// ---- small utilities ---------------------------------------------------------

type Listener<T> = (v: T) => void;

/** A typed event emitter; a listener that throws does not stop the others (its error is rethrown asynchronously). */
class Emitter<M> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof M>(type: K, f: Listener<M[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, set = new Set());
    set.add(f as Listener<never>);
    return () => this.off(type, f);
  }

  once<K extends keyof M>(type: K, f: Listener<M[K]>): () => void {
    const off = this.on(type, (v) => { off(); f(v); });
    return off;
  }

  off<K extends keyof M>(type: K, f: Listener<M[K]>): void {
    this.listeners.get(type)?.delete(f as Listener<never>);
  }

  protected emit<K extends keyof M>(type: K, v: M[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const f of [...set]) {
      try {
        (f as Listener<M[K]>)(v);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }
}

/** A promise with its resolvers; its rejection counts as handled (callers who await it still see it). */
function deferred<T>() {
  let resolve!: (v: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** A single-consumer async queue, ended normally or with an error (thrown once, after the queued items). */
class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private ended = false;
  private error: unknown = undefined;

  constructor(private readonly onDetach: () => void) {}

  push(v: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w.resolve({ value: v, done: false }); else this.items.push(v);
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    // waiters only exist while the queue is empty
    for (const w of this.waiters.splice(0)) {
      if (this.error !== undefined) { w.reject(this.error); this.error = undefined; } else w.resolve({ value: undefined, done: true });
    }
    this.onDetach();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.ended) {
      const e = this.error;
      this.error = undefined;
      return e !== undefined ? Promise.reject(e) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.items = [];
    this.error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

// ---- reconnect policy --------------------------------------------------------

export interface ReconnectPolicy {
  /** Attempts after a drop before the client gives up (and emits `close`). */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Growth of the delay per attempt. */
  readonly factor: number;
  /** Share of the delay that is random: the delay is base x (1 - jitter x U[0,1)); 1 = "full jitter". */
  readonly jitter: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { maxAttempts: 5, initialDelayMs: 250, maxDelayMs: 10_000, factor: 2, jitter: 0.5 };

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffDelay(p: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - p.jitter * random()));
}

// ---- contexts ----------------------------------------------------------------

/** One binary audio message: its header fields, the flags spelled out, the payload, and when it arrived. */
export interface AudioFrame extends AudioHeader {
  readonly payload: Uint8Array;
  /** Flag bit 1: the context's first frame. */
  readonly first: boolean;
  /** Flag bit 0: the context's last frame (context_done follows). */
  readonly last: boolean;
  /** Flag bit 2: the first frame of a chunk (its words event came just before). */
  readonly chunkStart: boolean;
  /** performance.now() when the message arrived, before any parsing. */
  readonly receivedAt: number;
}

/** The server events that concern one context, in their order with its audio. */
export type ContextEvent = ContextCreated | AudioStart | Words | ChunkMetrics | ContextDone | ErrorEvent;

export interface ContextEvents {
  created: ContextCreated;
  audio_start: AudioStart;
  words: Words;
  chunk_metrics: ChunkMetrics;
  audio: AudioFrame;
  done: ContextDone;
  /** Every server error about this context, whether it ends the context or not (no_speakable_text, rate_limited...). */
  error: ErrorEvent;
  /** The server refused appended text (rate_limited, text_too_long): it was taken out of `text` again; resend it
   * (after `retryAfterMs`) if it should still be said. */
  text_refused: { text: string; code: string; retryAfterMs?: number };
  /** The context ended without context_done: refused at creation, inference_failed, or the socket dropped. */
  failed: SoundstormError;
}

export interface ContextOptions {
  /** Defaults to a fresh id unique on this client. */
  readonly contextId?: string;
  readonly voice?: string;
  readonly format?: OutputFormat;
  readonly latency?: LatencyProfile;
  readonly pacing?: "realtime" | "burst";
  readonly seed?: number;
  /** Speaking rate, 0.5-2 (1: the voice's own pace). */
  readonly speed?: number;
}

export type ContextState = "creating" | "open" | "done" | "failed";

interface ContextHost {
  send(msg: object): void;
  /** The server's limits from hello (defaults before it). */
  limits(): { perMessage: number; perContext: number; messageBytes: number };
  forget(ctx: SynthesisContext): void;
}

/** Error codes a create_context can get: before context_created, only these mean the context was refused (others
 * with its id are answers to an earlier context of the same id, crossing on the wire). */
const CREATE_ERRORS = new Set(["context_exists", "too_many_contexts", "unknown_voice", "at_capacity", "key_context_limit",
  "server_shutting_down", "invalid_message", "internal_error"]);

const utf8 = new TextEncoder();

/** Answers to messages about a context that has just finished. */
const STALE_ERRORS = new Set(["unknown_context", "context_ended"]);

/**
 * One synthesis context. Its methods send at once (text may be appended before context_created
 * arrives: the server handles messages in order). Subscribe (on, frames(), events()) right after
 * createContext, in the same tick, to miss nothing: iterators see what arrives after they are made.
 */
export class SynthesisContext extends Emitter<ContextEvents> {
  readonly id: string;
  state: ContextState = "creating";
  /** context_created, once it came. */
  info: ContextCreated | null = null;
  /** audio_start, once it came (codec parameters for decoding the frames). */
  audioStart: AudioStart | null = null;
  /** All the text appended so far: what `words[].char_offset` counts in. */
  text = "";
  /** Resolves with context_created; rejects when the server refuses the context. */
  readonly created: Promise<ContextCreated>;
  /** Resolves with context_done (also after cancel); rejects with the error that ended the context. */
  readonly done: Promise<ContextDone>;
  private inputOpen = true;
  /** Appends on the wire, in order: where each one's text starts in `text`, and its length (a refusal names the
   * offset, so the refused piece can be taken out again). */
  private readonly sent: { offset: number; length: number }[] = [];
  private readonly createdD = deferred<ContextCreated>();
  private readonly doneD = deferred<ContextDone>();
  private readonly frameQueues = new Set<AsyncQueue<AudioFrame>>();
  private readonly eventQueues = new Set<AsyncQueue<ContextEvent>>();

  /** @internal created by SoundstormClient.createContext */
  constructor(private readonly host: ContextHost, readonly options: ContextOptions & { contextId: string }) {
    super();
    this.id = options.contextId;
    this.created = this.createdD.promise;
    this.done = this.doneD.promise;
  }

  /** context_index from context_created (tags the binary frames), once known. */
  get index(): number | null {
    return this.info?.context_index ?? null;
  }

  /** Done or failed: nothing more will come. */
  get finished(): boolean {
    return this.state === "done" || this.state === "failed";
  }

  /** Text may still be appended (not ended, cancelled or finished). */
  get acceptsText(): boolean {
    return this.inputOpen && !this.finished;
  }

  /**
   * Adds text (any split, mid-word too). Text over the server's per-message limits (characters or bytes) goes as
   * several messages. Throws SoundstormError `text_too_long` (nothing sent) past the context's character limit.
   */
  append(text: string): void {
    this.requireInput("append");
    if (text.length === 0) return;
    const limits = this.host.limits();
    if (this.text.length + text.length > limits.perContext) {
      throw new SoundstormError("text_too_long", `context would hold ${this.text.length + text.length} characters, limit ${limits.perContext}`, this.id);
    }
    for (let i = 0; i < text.length;) {
      let j = Math.min(text.length, i + limits.perMessage);
      const msg = (end: number) => ({ type: "append_text", context_id: this.id, text: text.slice(i, end) });
      // wide characters (3 bytes in UTF-8, up to 6 escaped) can put a message over the byte limit first
      while (j > i + 1 && utf8.encode(JSON.stringify(msg(j))).length > limits.messageBytes) j = i + Math.max(1, Math.floor((j - i) / 2));
      // never split a surrogate pair between two messages
      if (j < text.length && j > i + 1 && /[\uD800-\uDBFF]/.test(text[j - 1])) j--;
      this.sent.push({ offset: this.text.length + i, length: j - i });
      this.host.send(msg(j));
      i = j;
    }
    this.text += text;
  }

  /** The server refused the append that would have started at `offset`: take its text out of `text`. */
  private refused(offset: number, ev: ErrorEvent): void {
    const k = this.sent.findIndex((s) => s.offset === offset);
    if (k < 0) return;
    const { length } = this.sent[k];
    const piece = this.text.slice(offset, offset + length);
    this.text = this.text.slice(0, offset) + this.text.slice(offset + length);
    this.sent.splice(k, 1);
    for (let m = k; m < this.sent.length; m++) this.sent[m] = { offset: this.sent[m].offset - length, length: this.sent[m].length };
    this.emit("text_refused", { text: piece, code: ev.code, ...(ev.retry_after_ms !== undefined ? { retryAfterMs: ev.retry_after_ms } : {}) });
  }

  /** Synthesize the buffered text now, even mid-sentence. */
  flush(): void {
    this.requireInput("flush");
    this.host.send({ type: "flush", context_id: this.id });
  }

  /** No more text: the rest is synthesized, then context_done. */
  end(): void {
    this.requireInput("end");
    this.inputOpen = false;
    this.host.send({ type: "end", context_id: this.id });
  }

  /** Stop now: context_done with cancelled=true follows, and no more audio. A no-op once finished. */
  cancel(): void {
    if (this.finished) return;
    this.inputOpen = false;
    this.host.send({ type: "cancel", context_id: this.id });
  }

  /** Tell the server about playback underruns (counted in its metrics). Allowed after the context finished. */
  reportPlayback(underruns: number, underrunMs: number): void {
    this.host.send({ type: "playback_report", context_id: this.id, underruns, underrun_ms: underrunMs });
  }

  /** Audio frames from now on, ending after the last one; throws the context's error if it fails. */
  frames(): AsyncIterableIterator<AudioFrame> {
    return this.queue(this.frameQueues);
  }

  /** The context's events from now on, ending after context_done; throws the context's error if it fails. */
  events(): AsyncIterableIterator<ContextEvent> {
    return this.queue(this.eventQueues);
  }

  private queue<T>(set: Set<AsyncQueue<T>>): AsyncQueue<T> {
    const q: AsyncQueue<T> = new AsyncQueue<T>(() => set.delete(q));
    if (this.state === "done") q.end();
    else if (this.state === "failed") q.end(this.failure);
    else set.add(q);
    return q;
  }

  private failure: SoundstormError | undefined;

  private requireInput(what: string): void {
    if (!this.acceptsText) {
      throw new SoundstormError("context_closed", `cannot ${what}: context '${this.id}' is ${this.finished ? this.state : "ended"}`, this.id);
    }
  }

  /** @internal a server event for this context */
  handleEvent(ev: ContextEvent): void {
    if (this.finished) return;
    for (const q of this.eventQueues) q.push(ev);
    switch (ev.type) {
      case "context_created":
        this.info = ev;
        this.state = "open";
        this.createdD.resolve(ev);
        this.emit("created", ev);
        return;
      case "audio_start":
        this.audioStart = ev;
        this.emit("audio_start", ev);
        return;
      case "words":
        this.emit("words", ev);
        return;
      case "chunk_metrics":
        this.emit("chunk_metrics", ev);
        return;
      case "context_done":
        this.state = "done";
        this.inputOpen = false;
        this.host.forget(this);
        this.createdD.reject(new SoundstormError("context_closed", "context done before it was created", this.id));
        this.doneD.resolve(ev);
        for (const q of [...this.frameQueues]) q.end();
        for (const q of [...this.eventQueues]) q.end();
        this.emit("done", ev);
        return;
      case "error": {
        const offset = (ev as { text_offset?: number }).text_offset;
        if (offset !== undefined && (ev.code === "rate_limited" || ev.code === "text_too_long")) this.refused(offset, ev);
        this.emit("error", ev);
        // before context_created a refusal of create_context means it was not created; after, only inference_failed ends it
        if ((this.state === "creating" && CREATE_ERRORS.has(ev.code)) || ev.code === "inference_failed") this.fail(SoundstormError.fromEvent(ev));
        return;
      }
    }
  }

  /** @internal one audio frame of this context */
  handleAudio(frame: AudioFrame): void {
    if (this.finished) return;
    for (const q of this.frameQueues) q.push(frame);
    this.emit("audio", frame);
  }

  /** @internal the context ended without context_done */
  fail(err: SoundstormError): void {
    if (this.finished) return;
    this.state = "failed";
    this.inputOpen = false;
    this.failure = err;
    this.host.forget(this);
    this.createdD.reject(err);
    this.doneD.reject(err);
    for (const q of [...this.frameQueues]) q.end(err);
    for (const q of [...this.eventQueues]) q.end(err);
    this.emit("failed", err);
  }
}

// ---- the client --------------------------------------------------------------

export interface ClientOptions {
  /** ws:// or wss:// URL of /v1/stream. */
  readonly url: string;
  /** API key, sent as the `key.<KEY>` subprotocol (works in browsers, which cannot set headers). */
  readonly apiKey?: string;
  /** A token from POST /v1/tokens, sent as `?token=`; a function is asked again at every (re)connect (tokens expire). */
  readonly token?: string | (() => string | Promise<string>);
  /** WebSocket constructor; default globalThis.WebSocket (browsers). Node: see ./node.js. */
  readonly WebSocket?: WebSocketConstructor;
  /** Reconnect after a drop (not after close()); false: never. Default DEFAULT_RECONNECT. */
  readonly reconnect?: Partial<ReconnectPolicy> | false;
  /** From opening the socket to hello. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Source of randomness for the backoff jitter (tests). */
  readonly random?: () => number;
}

export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

export interface ClientEvents {
  /** At every (re)connect. */
  hello: Hello;
  /** Server errors that concern no open context of this client (socket-wide ones, or late ones). */
  error: ErrorEvent;
  pong: Pong;
  /** The socket dropped; open contexts have failed with DisconnectedError. */
  disconnect: { code: number; reason: string; willReconnect: boolean };
  /** A reconnect attempt is scheduled. */
  reconnecting: { attempt: number; delayMs: number; lastError?: SoundstormError };
  /** Connected again (a new hello). */
  reconnected: Hello;
  /** The client is closed for good: close() was called, or reconnecting gave up. */
  close: { code: number; reason: string; error?: SoundstormError };
}

export class SoundstormClient extends Emitter<ClientEvents> {
  state: ClientState = "connecting";
  /** The latest hello: voices, formats, limits. */
  hello!: Hello;
  private ws: WebSocketLike | null = null;
  private readonly WS: WebSocketConstructor;
  private readonly policy: ReconnectPolicy | null;
  private readonly contexts = new Map<string, SynthesisContext>();
  private readonly byIndex = new Map<number, SynthesisContext>();
  /** Ids of contexts that finished lately, oldest first (bounded). */
  private readonly finishedIds = new Set<string>();
  private readonly pings = new Map<string | number, { resolve: (v: { pong: Pong; rttMs: number }) => void; reject: (e: unknown) => void; sentAt: number }>();
  private contextSeq = 0;
  private pingSeq = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private closeWaiters: (() => void)[] = [];
  private readonly host: ContextHost;

  private constructor(readonly options: ClientOptions) {
    super();
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new ConnectError("no WebSocket implementation: pass options.WebSocket (in Node use connect() from the SDK's node entry, which uses the ws package)");
    this.WS = WS;
    this.policy = options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this.host = {
      send: (msg) => this.send(msg),
      limits: () => ({
        perMessage: this.hello?.limits.max_text_chars_per_message ?? 4096,
        perContext: this.hello?.limits.max_text_chars_per_context ?? Number.MAX_SAFE_INTEGER,
        messageBytes: this.hello?.limits.max_message_bytes ?? 64 * 1024,
      }),
      forget: (ctx) => {
        if (this.contexts.get(ctx.id) === ctx) this.contexts.delete(ctx.id);
        this.finishedIds.delete(ctx.id);
        this.finishedIds.add(ctx.id);
        if (this.finishedIds.size > 256) this.finishedIds.delete(this.finishedIds.values().next().value as string);
        const i = ctx.index;
        if (i !== null && this.byIndex.get(i) === ctx) this.byIndex.delete(i);
      },
    };
  }

  /** Connects and resolves once the server's hello arrived; rejects with ConnectError (no retry for the first connection). */
  static async connect(options: ClientOptions): Promise<SoundstormClient> {
    const c = new SoundstormClient(options);
    try {
      await c.open();
    } catch (e) {
      c.state = "closed";
      throw e;
    }
    return c;
  }

  /** Open contexts (created, not yet done or failed). */
  get openContexts(): number {
    return this.contexts.size;
  }

  /**
   * Opens a context. Throws SoundstormError `not_connected` unless the client is open (while it
   * reconnects, wait for `reconnected`), `invalid_message` for an id the protocol does not allow, or
   * `context_exists` for an id still open here.
   */
  createContext(o: ContextOptions = {}): SynthesisContext {
    if (this.state !== "open") throw new SoundstormError("not_connected", `cannot create a context: the client is ${this.state}`, o.contextId);
    const id: unknown = o.contextId ?? `c${++this.contextSeq}`;
    if (typeof id !== "string" || !isValidContextId(id)) {
      throw new SoundstormError("invalid_message", `context id ${JSON.stringify(typeof id === "string" ? id.slice(0, 80) : id)}: a string of 1-${CONTEXT_ID_MAX_LENGTH} of A-Z a-z 0-9 _ . : -`);
    }
    if (this.contexts.has(id)) throw new SoundstormError("context_exists", `context '${id}' is open`, id);
    const ctx = new SynthesisContext(this.host, { ...o, contextId: id });
    this.contexts.set(id, ctx);
    this.send({
      type: "create_context", context_id: id,
      ...(o.voice !== undefined ? { voice: o.voice } : {}),
      ...(o.format !== undefined ? { format: o.format } : {}),
      ...(o.latency !== undefined ? { latency: o.latency } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.pacing !== undefined ? { pacing: o.pacing } : {}),
      ...(o.speed !== undefined ? { speed: o.speed } : {}),
    });
    return ctx;
  }

  /** Round trip to the server: resolves with the pong and the measured round-trip time. */
  ping(id?: string | number): Promise<{ pong: Pong; rttMs: number }> {
    if (this.state !== "open") return Promise.reject(new SoundstormError("not_connected", `cannot ping: the client is ${this.state}`));
    const pid = id ?? `p${++this.pingSeq}`;
    // the server answers an id it cannot echo with invalid_message and no id: this promise would never settle
    if (typeof pid === "number" ? !Number.isFinite(pid) : typeof pid !== "string" || pid.length > 64) {
      return Promise.reject(new SoundstormError("invalid_message", "ping id: a string of at most 64 characters, or a finite number"));
    }
    return new Promise((resolve, reject) => {
      this.pings.get(pid)?.reject(new SoundstormError("ping_replaced", `another ping with id ${pid} was sent`));
      this.pings.set(pid, { resolve, reject, sentAt: performance.now() });
      this.send({ type: "ping", id: pid });
    });
  }

  /** Playback underruns not tied to a context (see also SynthesisContext.reportPlayback). */
  reportPlayback(underruns: number, underrunMs: number): void {
    this.send({ type: "playback_report", underruns, underrun_ms: underrunMs });
  }

  /** Resolves when the client is open (at once if it is); rejects if it closes for good first. */
  whenOpen(): Promise<void> {
    if (this.state === "open") return Promise.resolve();
    if (this.state === "closed") return Promise.reject(new SoundstormError("closed", "the client is closed"));
    return new Promise((resolve, reject) => {
      const offs = [
        this.once("hello", () => { offs.forEach((f) => f()); resolve(); }),
        this.once("close", () => { offs.forEach((f) => f()); reject(new SoundstormError("closed", "the client is closed")); }),
      ];
    });
  }

  /** Closes for good: open contexts fail with DisconnectedError (`closed`); no reconnect. */
  close(code = 1000, reason = ""): Promise<void> {
    if (this.reconnectTimer) { clearTimeout(this.reconnectTimer); this.reconnectTimer = null; }
    const wasClosed = this.state === "closed";
    this.state = "closed";
    this.failAll(new DisconnectedError("closed", code, reason));
    const ws = this.ws;
    this.ws = null;
    if (!wasClosed) this.emit("close", { code, reason });
    if (!ws || ws.readyState >= 2) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      try { ws.close(code, reason); } catch { resolve(); }
    });
  }

  private send(msg: object): void {
    // a socket that is gone already failed its contexts; what they still send has nowhere to go
    if (this.state !== "open" || !this.ws || this.ws.readyState !== 1) return;
    this.ws.send(JSON.stringify(msg));
  }

  private async url(): Promise<string> {
    const t = this.options.token;
    if (t === undefined) return this.options.url;
    const token = typeof t === "function" ? await t() : t;
    const u = new URL(this.options.url);
    u.searchParams.set("token", token);
    return u.toString();
  }

  /** One connection attempt: resolves at hello. */
  private async open(): Promise<void> {
    let url: string;
    try {
      url = await this.url();
    } catch (e) {
      throw new ConnectError(`cannot connect to ${this.options.url}: ${(e as Error).message}`);
    }
    const protocols = [SUBPROTOCOL, ...(this.options.apiKey ? [`key.${this.options.apiKey}`] : [])];
    await new Promise<void>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new this.WS(url, protocols);
      } catch (e) {
        reject(new ConnectError(`cannot open ${this.options.url}: ${(e as Error).message}`));
        return;
      }
      ws.binaryType = "arraybuffer";
      let settled = false;
      let detail = "";
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new ConnectError(`cannot connect to ${this.options.url}: ${why}`));
      };
      const timer = setTimeout(() => {
        fail(`no hello within ${this.options.connectTimeoutMs ?? 10_000} ms`);
        try { ws.close(); } catch { /* already closing */ }
      }, this.options.connectTimeoutMs ?? 10_000);
      ws.onerror = (ev) => {
        // browsers give no detail (the HTTP status of a refused upgrade is hidden); ws says "Unexpected server response: 401"
        const m = (ev as { message?: string } | null)?.message;
        if (m) detail = m;
      };
      ws.onclose = (ev) => {
        if (!settled) {
          fail(`${detail || "connection refused or closed"} (close code ${ev.code}; a refused upgrade is 401 for a missing or invalid key, 403 for a non-loopback client when no keys are configured, 429 or 503)`);
          return;
        }
        this.socketClosed(ws, ev.code, ev.reason);
      };
      ws.onmessage = (ev) => {
        const at = performance.now();
        if (!settled && typeof ev.data === "string") {
          const msg = JSON.parse(ev.data) as ServerEvent;
          if (msg.type === "hello") {
            settled = true;
            clearTimeout(timer);
            if (this.state === "closed") { try { ws.close(1000); } catch { /* closing */ } reject(new SoundstormError("closed", "the client was closed")); return; }
            this.ws = ws;
            this.hello = msg;
            this.state = "open";
            resolve();
            this.emit("hello", msg);
            return;
          }
        }
        if (this.ws === ws) this.dispatch(ev.data, at);
      };
    });
  }

  private socketClosed(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) {
      // the socket close() let go of
      for (const w of this.closeWaiters.splice(0)) w();
      return;
    }
    this.ws = null;
    this.failAll(new DisconnectedError("disconnected", code, reason));
    const willReconnect = this.policy !== null && this.policy.maxAttempts > 0;
    this.emit("disconnect", { code, reason, willReconnect });
    if (!willReconnect) {
      this.state = "closed";
      this.emit("close", { code, reason });
      return;
    }
    this.state = "reconnecting";
    this.scheduleReconnect(1, code, reason);
  }

  private scheduleReconnect(attempt: number, code: number, reason: string, lastError?: SoundstormError): void {
    const p = this.policy!;
    if (attempt > p.maxAttempts) {
      this.state = "closed";
      this.emit("close", { code, reason, ...(lastError ? { error: lastError } : {}) });
      return;
    }
    const delayMs = backoffDelay(p, attempt, this.options.random);
    this.emit("reconnecting", { attempt, delayMs, ...(lastError ? { lastError } : {}) });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== "reconnecting") return;
      this.open().then(
        () => this.emit("reconnected", this.hello),
        (e: unknown) => {
          if (this.state !== "reconnecting") return;
          const err = e instanceof SoundstormError ? e : new ConnectError(String(e));
          this.scheduleReconnect(attempt + 1, code, reason, err);
        },
      );
    }, delayMs);
  }

  private failAll(err: DisconnectedError): void {
    for (const ctx of [...this.contexts.values()]) {
      ctx.fail(new DisconnectedError(err.code as "disconnected" | "closed", err.closeCode, err.reason, ctx.id));
    }
    this.contexts.clear();
    this.byIndex.clear();
    for (const p of this.pings.values()) p.reject(err);
    this.pings.clear();
  }

  private dispatch(data: unknown, receivedAt: number): void {
    if (typeof data !== "string") {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      if (!bytes) return;
      const { header, payload } = decodeAudioMessage(bytes);
      this.byIndex.get(header.contextIndex)?.handleAudio({
        ...header, payload, receivedAt,
        first: (header.flags & FLAG_FIRST) !== 0, last: (header.flags & FLAG_LAST) !== 0, chunkStart: (header.flags & FLAG_CHUNK_START) !== 0,
      });
      return;
    }
    const ev = JSON.parse(data) as ServerEvent;
    switch (ev.type) {
      case "hello":
        this.hello = ev;
        return;
      case "pong": {
        const p = ev.id !== undefined ? this.pings.get(ev.id) : undefined;
        if (p && ev.id !== undefined) {
          this.pings.delete(ev.id);
          p.resolve({ pong: ev, rttMs: performance.now() - p.sentAt });
        }
        this.emit("pong", ev);
        return;
      }
      default: {
        const id = (ev as { context_id?: string }).context_id;
        const ctx = id !== undefined ? this.contexts.get(id) : undefined;
        if (ctx) {
          if (ev.type === "context_created") this.byIndex.set(ev.context_index, ctx);
          ctx.handleEvent(ev);
        } else if (ev.type === "error" && !(id !== undefined && this.finishedIds.has(id) && STALE_ERRORS.has(ev.code))) {
          // (an unknown_context or context_ended for a context that just finished is a cancel or append that
          // crossed its end on the wire: harmless, not reported)
          this.emit("error", ev);
        }
      }
    }
  }
}

/** Shorthand for SoundstormClient.connect. */
export function connect(options: ClientOptions): Promise<SoundstormClient> {
  return SoundstormClient.connect(options);
}
