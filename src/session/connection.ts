/**
 * Per-socket state: the open contexts and the dispatch of client messages.
 * Knows nothing of uWS; the server adapter feeds it strings and gives it a sink.
 */
import type { ServerConfig } from "../config.js";
import { ServiceError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { OUTPUT_FORMATS, PROTOCOL_VERSION, type ClientMessage, type CreateContext, type Hello } from "../protocol/messages.js";
import { parseClientMessage } from "../protocol/parse.js";
import { chargeChars, type Admission } from "../server/admission.js";
import type { Principal } from "../server/auth.js";
import type { Synthesizer } from "../synth/synthesizer.js";
import { SynthesisContext, type EventSink } from "./context.js";

export interface ConnectionDeps {
  readonly synth: Synthesizer;
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly principal: Principal;
  /** True once the server is draining: no new contexts. */
  readonly draining: () => boolean;
}

export class Connection {
  private readonly contexts = new Map<string, SynthesisContext>();
  /** Next context index to hand out; indices wrap at 2^16 and skip those in use, so a late frame is never misattributed to a fresh context. */
  private nextIndex = 0;
  private closed = false;

  constructor(private readonly deps: ConnectionDeps, private readonly sink: EventSink) {}

  hello(): Hello {
    const { synth, config } = this.deps;
    const l = config.limits;
    return {
      type: "hello", protocol_version: PROTOCOL_VERSION, model: synth.manifest.name, model_kind: synth.manifest.kind,
      voices: synth.voices, default_voice: this.defaultVoice(), formats: [...OUTPUT_FORMATS],
      limits: {
        max_message_bytes: l.maxMessageBytes, max_text_chars_per_message: l.maxTextCharsPerMessage,
        max_text_chars_per_context: l.maxTextCharsPerContext, max_contexts_per_socket: l.maxContextsPerSocket,
        idle_timeout_s: l.idleTimeoutS,
      },
    };
  }

  get openContexts(): number {
    return this.contexts.size;
  }

  /** Handle one text message; every failure becomes a typed error event, never an exception. */
  onText(raw: string): void {
    if (this.closed) return;
    try {
      this.dispatch(parseClientMessage(raw, this.deps.config.limits));
    } catch (e) {
      this.reportError(e);
    }
  }

  onBinary(): void {
    this.reportError(new ServiceError("binary_not_supported"));
  }

  /** The socket is gone: stop every context's work. */
  onClose(): void {
    this.closed = true;
    for (const ctx of [...this.contexts.values()]) ctx.cancel("disconnect");
    this.contexts.clear();
  }

  reportError(e: unknown): void {
    const err = e instanceof ServiceError ? e : new ServiceError("internal_error", e instanceof Error ? e.message : String(e));
    this.deps.metrics.errors.inc({ code: err.code });
    this.sink.sendJson(err.toEvent());
  }

  private defaultVoice(): string {
    const { config, synth } = this.deps;
    return config.defaultVoice && synth.hasVoice(config.defaultVoice) ? config.defaultVoice : synth.voices[0];
  }

  private dispatch(msg: ClientMessage): void {
    switch (msg.type) {
      case "ping":
        this.sink.sendJson({ type: "pong", ...(msg.id !== undefined ? { id: msg.id } : {}), server_time_ms: Date.now() });
        return;
      case "playback_report":
        this.deps.metrics.clientUnderruns.inc(msg.underruns);
        this.deps.metrics.clientUnderrunSeconds.inc(msg.underrun_ms / 1000);
        return;
      case "create_context":
        this.create(msg);
        return;
      case "append_text": {
        const ctx = this.get(msg.context_id);
        try {
          // text the context would refuse anyway costs no budget
          ctx.checkAppend(msg.text);
          chargeChars(this.deps.admission, this.deps.principal, msg.text.length, msg.context_id);
        } catch (e) {
          // where the refused text would have gone: a client can keep its copy of the text (what char_offset
          // counts in) equal to the server's, even with later appends already on the wire
          if (e instanceof ServiceError) e.textOffset = ctx.textLength;
          throw e;
        }
        ctx.append(msg.text);
        return;
      }
      case "flush":
        this.get(msg.context_id).flush();
        return;
      case "end":
        this.get(msg.context_id).end();
        return;
      case "cancel":
        this.get(msg.context_id).cancel();
        return;
    }
  }

  private get(id: string): SynthesisContext {
    const ctx = this.contexts.get(id);
    if (!ctx) throw new ServiceError("unknown_context", id, id);
    return ctx;
  }

  private allocateIndex(): number {
    const used = new Set([...this.contexts.values()].map((c) => c.index));
    while (used.has(this.nextIndex)) this.nextIndex = (this.nextIndex + 1) & 0xffff;
    const index = this.nextIndex;
    this.nextIndex = (this.nextIndex + 1) & 0xffff;
    return index;
  }

  private create(msg: CreateContext): void {
    const { config, synth } = this.deps;
    if (this.contexts.has(msg.context_id)) throw new ServiceError("context_exists", msg.context_id, msg.context_id);
    if (this.contexts.size >= config.limits.maxContextsPerSocket) {
      throw new ServiceError("too_many_contexts", `limit ${config.limits.maxContextsPerSocket}`, msg.context_id);
    }
    const voice = msg.voice ?? this.defaultVoice();
    if (!synth.hasVoice(voice)) throw new ServiceError("unknown_voice", `${voice}; available: ${synth.voices.join(", ")}`, msg.context_id);
    if (this.deps.draining()) throw new ServiceError("server_shutting_down", "no new contexts", msg.context_id);
    const { admission, principal } = this.deps;
    const admitted = admission.openContext(principal);
    if (admitted === "at_capacity") throw new ServiceError("at_capacity", `${admission.activeContexts} contexts active`, msg.context_id, admission.retryAfterMs());
    if (admitted === "key_context_limit") throw new ServiceError("key_context_limit", `limit ${principal.maxContexts}`, msg.context_id);
    const index = this.allocateIndex();
    const format = msg.format ?? config.defaultFormat;
    const latency = msg.latency ?? config.defaultLatency;
    const pacing = msg.pacing ?? config.pacing.default;
    let ctx: SynthesisContext;
    try {
      ctx = new SynthesisContext(
        { id: msg.context_id, index, voice, format, latency, pacing, seed: msg.seed ?? config.inference.defaultSeed, speed: msg.speed ?? 1 },
        {
          ...this.deps, sink: this.sink,
          onIdle: () => admission.closeContext(principal),
          onClosed: (c) => {
            if (this.contexts.get(c.id) === c) this.contexts.delete(c.id);
          },
        },
      );
    } catch (e) {
      admission.closeContext(principal);
      throw e;
    }
    this.contexts.set(msg.context_id, ctx);
    this.sink.sendJson({ type: "context_created", context_id: msg.context_id, context_index: index, voice, format, latency, pacing });
  }
}
