/**
 * Every error the server reports, in one frozen table. Protocol errors become
 * `{"type":"error","code":...}` events; the socket stays open unless the
 * entry names a close code. protocol/README.md documents this table and a test
 * keeps the two in step.
 */
export interface ErrorSpec {
  readonly message: string;
  /** Close the socket with this code after sending the error (connection-level faults only). */
  readonly close?: number;
}

export const ERRORS = Object.freeze({
  invalid_json: { message: "Message is not valid JSON" },
  binary_not_supported: { message: "Binary messages from the client are not supported; send JSON text" },
  unknown_message_type: { message: "Unknown message type" },
  invalid_message: { message: "Message does not match its schema" },
  text_too_long: { message: "Text exceeds the per-message, per-context or per-minute (API key) limit" },
  unknown_context: { message: "No open context with this id" },
  context_exists: { message: "A context with this id is already open on this socket" },
  context_ended: { message: "The context has already ended; no more text is accepted" },
  too_many_contexts: { message: "Too many open contexts on this socket" },
  at_capacity: { message: "The server is at capacity; retry after retry_after_ms" },
  key_context_limit: { message: "This API key already has its maximum number of open contexts" },
  rate_limited: { message: "This API key's characters-per-minute budget is spent; the text was not added; retry after retry_after_ms" },
  unknown_voice: { message: "Unknown voice" },
  no_speakable_text: { message: "A chunk of text had nothing speakable in it and was skipped" },
  inference_failed: { message: "Synthesis failed for this context" },
  internal_error: { message: "Internal server error" },
  slow_consumer: { message: "The client is not reading audio fast enough; the socket is closed with 4001 if it falls further behind" },
  message_too_large: { message: "Message exceeds the maximum size", close: 1009 },
  server_shutting_down: { message: "The server is shutting down", close: 1001 },
  // HTTP routes only (/v1/...): authentication and routing
  unauthorized: { message: "Missing, invalid or expired API key or token (401)" },
  forbidden: { message: "This client may not use the route (403): without API keys only loopback clients on a local host name are served, and pages of other origins are refused" },
  not_found: { message: "No such resource (404)" },
  // voice cloning (HTTP /v1/voices only)
  invalid_audio: { message: "The upload is not a readable WAV file" },
  audio_too_short: { message: "Not enough speech in the audio" },
  audio_too_long: { message: "The audio is too long" },
  invalid_voice_name: { message: "Voice names are 1-64 characters: letters, digits, '_' and '-', starting with a letter or digit" },
  voice_exists: { message: "A cloned voice with this name already exists; delete it first" },
  builtin_voice: { message: "Built-in voices cannot be replaced or deleted" },
  too_many_voices: { message: "The server already keeps its maximum number of cloned voices" },
  cloning_unavailable: { message: "This model cannot clone voices" },
} satisfies Record<string, ErrorSpec>);

export type ErrorCode = keyof typeof ERRORS;

/** WebSocket close codes the server uses (documented in protocol/README.md). */
export const CLOSE_CODES = Object.freeze({
  normal: 1000,
  going_away: 1001,
  message_too_big: 1009,
  internal_error: 1011,
  slow_consumer: 4001,
});

/** A typed error that maps to one row of the table. */
export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly contextId?: string;
  readonly retryAfterMs?: number;
  /** A refused append_text: the context's text length (UTF-16) when it arrived, where its text would have gone. */
  textOffset?: number;

  constructor(code: ErrorCode, detail?: string, contextId?: string, retryAfterMs?: number) {
    super(detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message);
    this.name = "ServiceError";
    this.code = code;
    this.contextId = contextId;
    this.retryAfterMs = retryAfterMs;
  }

  toEvent(): { type: "error"; code: ErrorCode; message: string; context_id?: string; retry_after_ms?: number; text_offset?: number } {
    const ev: { type: "error"; code: ErrorCode; message: string; context_id?: string; retry_after_ms?: number; text_offset?: number } =
      { type: "error", code: this.code, message: this.message };
    if (this.contextId !== undefined) ev.context_id = this.contextId;
    if (this.retryAfterMs !== undefined) ev.retry_after_ms = this.retryAfterMs;
    if (this.textOffset !== undefined) ev.text_offset = this.textOffset;
    return ev;
  }
}
