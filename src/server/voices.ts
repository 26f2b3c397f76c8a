/**
 * The voices API, without any HTTP server in it (uws-server.ts reads bodies, checks keys and writes
 * the answers):
 *   GET    /v1/voices          built-in and cloned voices
 *   POST   /v1/voices          clone a voice from 3-10 s of WAV: raw audio/wav with ?name=&transcript=
 *                              (&description=), or multipart/form-data with fields name, file,
 *                              transcript, description
 *   DELETE /v1/voices/{name}   forget a cloned voice
 * A cloned voice is served at once (WebSocket and /v1/audio/speech) and stored in config.voices.dir,
 * from where the next process loads it again. The registry is the Synthesizer's; this service only
 * adds and removes voices there.
 */
import { intraOpThreads, type ServerConfig } from "../config.js";
import { ServiceError, type ErrorCode } from "../errors.js";
import type { Synthesizer } from "../synth/synthesizer.js";
import { VoiceCloner } from "../synth/voice-cloner.js";
import { VOICE_NAME, VoiceStore, type StoredVoiceMeta } from "../synth/voice-store.js";

export interface HttpAnswer {
  readonly status: string;
  readonly body: string;
  readonly contentType: string;
  /** Set on error answers (for the errors metric). */
  readonly code?: ErrorCode;
}

export interface VoiceUpload {
  /** Content-Type header of the request. */
  readonly contentType: string;
  /** Raw query string (without '?'). */
  readonly query: string;
  readonly body: Uint8Array;
  /** Id of the API key uploading (recorded as the voice's owner); null without keys. */
  readonly owner: string | null;
}

/** What is known of an upload before its body is read. */
export type UploadHead = Pick<VoiceUpload, "contentType" | "query">;

const STATUS: Partial<Record<ErrorCode, string>> = {
  message_too_large: "413 Payload Too Large",
  voice_exists: "409 Conflict",
  builtin_voice: "409 Conflict",
  too_many_voices: "409 Conflict",
  unknown_voice: "404 Not Found",
  cloning_unavailable: "501 Not Implemented",
  server_shutting_down: "503 Service Unavailable",
  internal_error: "500 Internal Server Error",
  inference_failed: "500 Internal Server Error",
};

const json = (status: string, v: unknown): HttpAnswer => ({ status, body: JSON.stringify(v) + "\n", contentType: "application/json" });

/** An error answer {"error":{"code","message"}}, as the other HTTP APIs give. */
export function errorAnswer(e: ServiceError, status = STATUS[e.code] ?? "400 Bad Request"): HttpAnswer {
  return { ...json(status, { error: { code: e.code, message: e.message } }), code: e.code };
}

/** An error answer with a message of its own (not the table's text for the code). */
export function errorWith(status: string, code: ErrorCode, message: string): HttpAnswer {
  return { ...json(status, { error: { code, message } }), code };
}

const isMultipart = (contentType: string) => contentType.toLowerCase().startsWith("multipart/form-data");

/** Why a voice name from a query or form is refused, or null when it is a valid name. */
function badName(name: string | null): ServiceError | null {
  if (!name) return new ServiceError("invalid_voice_name", "no name given (query parameter or form field 'name')");
  return VOICE_NAME.test(name) ? null : new ServiceError("invalid_voice_name", JSON.stringify(name.slice(0, 80)));
}

const MAX_DESCRIPTION = 200;
const MAX_PARTS = 16;

interface FormPart {
  readonly data: Buffer;
  readonly filename: string | null;
}

/** multipart/form-data (RFC 7578) -> parts by field name; throws invalid_message. */
export function parseMultipart(body: Buffer, contentType: string): Map<string, FormPart> {
  const bad = (why: string) => new ServiceError("invalid_message", `multipart/form-data: ${why}`);
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary || boundary.length > 200) throw bad("no boundary in Content-Type");
  const delim = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts = new Map<string, FormPart>();
  let pos = body.indexOf(delim);
  if (pos < 0) throw bad("boundary not found in the body");
  for (;;) {
    pos += delim.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing delimiter
    // RFC 2046: spaces or tabs may follow the boundary on its line
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (!(body[pos] === 0x0d && body[pos + 1] === 0x0a)) throw bad("malformed delimiter line");
    pos += 2;
    // the part ends at the next delimiter; its headers must end before that (else the search for their end
    // would run into the next part and take its headers and data for this one's)
    const end = body.indexOf(next, pos);
    if (end < 0) throw bad("part is not closed by the boundary");
    const headEnd = body.indexOf("\r\n\r\n", pos);
    if (headEnd < 0 || headEnd + 4 > end) throw bad("part headers do not end");
    const headers = body.subarray(pos, headEnd).toString("utf8");
    const disp = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? "";
    const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1] ?? /;\s*name=([^;\s]+)/i.exec(disp)?.[1];
    if (name === undefined) throw bad("part without a form-data name");
    const filename = /;\s*filename="([^"]*)"/i.exec(disp)?.[1] ?? null;
    if (parts.size >= MAX_PARTS) throw bad(`more than ${MAX_PARTS} parts`);
    if (!parts.has(name)) parts.set(name, { data: body.subarray(headEnd + 4, end), filename });
    pos = end + 2;
  }
  return parts;
}

/** The fields of an upload, raw or multipart. */
export function parseUpload(up: VoiceUpload): { name: string | null; transcript: string | null; description: string | null; wav: Uint8Array } {
  const body = Buffer.from(up.body.buffer, up.body.byteOffset, up.body.byteLength);
  const q = new URLSearchParams(up.query);
  if (isMultipart(up.contentType)) {
    const parts = parseMultipart(body, up.contentType);
    const text = (k: string) => {
      const p = parts.get(k);
      return p ? p.data.toString("utf8") : q.get(k);
    };
    const file = parts.get("file") ?? parts.get("audio");
    if (!file) throw new ServiceError("invalid_message", "multipart/form-data: no 'file' field with the WAV");
    return { name: text("name"), transcript: text("transcript"), description: text("description"), wav: file.data };
  }
  return { name: q.get("name"), transcript: q.get("transcript"), description: q.get("description"), wav: body };
}

export function listVoices(synth: Synthesizer, meta?: ReadonlyMap<string, StoredVoiceMeta>): HttpAnswer {
  const rate = synth.manifest.audio.frame_rate;
  const voices = synth.voiceInfo().map((v) => {
    const base = { voice_id: v.name, name: v.name, description: v.description, source: v.source, prompt_seconds: v.frames / rate };
    if (v.source !== "cloned") return base;
    const m = meta?.get(v.name);
    return { ...base, has_transcript: v.hasPhonemes, ...(m?.createdAt ? { created_at: m.createdAt } : {}) };
  });
  return json("200 OK", { voices });
}

export class VoiceService {
  private readonly store: VoiceStore;
  private readonly cloner: VoiceCloner;
  private readonly meta = new Map<string, StoredVoiceMeta>();
  /** Names being cloned right now (reserved against a second upload with the same name). */
  private readonly pending = new Set<string>();
  /** Clones run one after another: each runs two encoder graphs over seconds of audio. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly config: ServerConfig, private readonly synth: Synthesizer, private readonly log: (m: string) => void) {
    this.store = new VoiceStore(config.voices.dir, synth.manifest);
    this.cloner = new VoiceCloner(synth.manifest, synth.phonemizer, { intraOpThreads: intraOpThreads(config) }, config.voices);
  }

  /** A service over `synth`, with the voices stored in config.voices.dir registered. */
  static async open(config: ServerConfig, synth: Synthesizer, log: (m: string) => void = () => {}): Promise<VoiceService> {
    const s = new VoiceService(config, synth, log);
    let loaded: Awaited<ReturnType<VoiceStore["load"]>>;
    try {
      loaded = await s.store.load();
    } catch (e) {
      log(`cannot read cloned voices from ${config.voices.dir}: ${(e as Error).message}`);
      loaded = { voices: [], skipped: [] };
    }
    const { voices, skipped } = loaded;
    for (const why of skipped) log(`cloned voice skipped: ${why} (in ${config.voices.dir})`);
    const taken = new Set(synth.voices.map((n) => n.toLowerCase()));
    for (const v of voices) {
      // the API's rules, which files written by hand or by an older setup may break: names unique without case,
      // no more than maxCloned voices
      const name = v.prompt.name;
      if (taken.has(name.toLowerCase())) { log(`cloned voice '${name}' skipped: a voice named like it (case aside) is already loaded`); continue; }
      if (s.meta.size >= config.voices.maxCloned) { log(`cloned voice '${name}' skipped: voices.maxCloned (${config.voices.maxCloned}) already loaded`); continue; }
      try {
        synth.addVoice(v.prompt);
        s.meta.set(v.prompt.name, v.meta);
        taken.add(name.toLowerCase());
      } catch (e) {
        log(`cloned voice skipped: ${(e as Error).message}`);
      }
    }
    if (s.meta.size) log(`${s.meta.size} cloned voice(s) loaded from ${config.voices.dir}`);
    return s;
  }

  get maxUploadBytes(): number {
    return this.config.voices.maxUploadBytes;
  }

  get clonedCount(): number {
    return this.meta.size;
  }

  list(): HttpAnswer {
    return listVoices(this.synth, this.meta);
  }

  private clash(name: string): ServiceError | null {
    const lower = name.toLowerCase();
    for (const v of this.synth.voiceInfo()) {
      if (v.name.toLowerCase() !== lower) continue;
      return v.source === "builtin"
        ? new ServiceError("builtin_voice", `'${v.name}' is a built-in voice`)
        : new ServiceError("voice_exists", `'${v.name}'`);
    }
    for (const p of this.pending) if (p.toLowerCase() === lower) return new ServiceError("voice_exists", `'${p}' is being created`);
    return null;
  }

  /** POST /v1/voices: 201 with the new voice, or a typed error answer. */
  async create(up: VoiceUpload): Promise<HttpAnswer> {
    try {
      return await this.createOrThrow(up);
    } catch (e) {
      if (e instanceof ServiceError) return errorAnswer(e);
      this.log(`voice cloning failed: ${(e as Error).stack}`);
      return errorAnswer(new ServiceError("internal_error", (e as Error).message));
    }
  }

  /**
   * The refusals an upload can get from its head alone (cloning unavailable, the cap reached, and for a raw
   * upload its query's name), so that a doomed body is never read (up to maxUploadBytes each). A multipart
   * upload's name may be in the body: it is checked with the rest once read. create() checks all again.
   */
  precheck(head: UploadHead): HttpAnswer | null {
    const e = this.headRefusal(head);
    return e ? errorAnswer(e) : null;
  }

  private headRefusal(head: UploadHead): ServiceError | null {
    const refused = this.unavailable() ?? this.full();
    if (refused || isMultipart(head.contentType)) return refused;
    const name = new URLSearchParams(head.query).get("name");
    return badName(name) ?? this.clash(name!);
  }

  private unavailable(): ServiceError | null {
    return this.cloner.available ? null : new ServiceError("cloning_unavailable", `model '${this.synth.manifest.name}' has no codec_encoder or semantic_tokenizer graph`);
  }

  private full(): ServiceError | null {
    const max = this.config.voices.maxCloned;
    return this.meta.size + this.pending.size >= max ? new ServiceError("too_many_voices", `limit ${max}; delete one first`) : null;
  }

  private async createOrThrow(up: VoiceUpload): Promise<HttpAnswer> {
    const limits = this.config.voices;
    if (up.body.byteLength > limits.maxUploadBytes) throw new ServiceError("message_too_large", `limit ${limits.maxUploadBytes} bytes`);
    const unavailable = this.unavailable();
    if (unavailable) throw unavailable;
    const f = parseUpload(up);
    const nameRefused = badName(f.name);
    if (nameRefused) throw nameRefused;
    if (f.transcript && f.transcript.length > limits.maxTranscriptChars) throw new ServiceError("text_too_long", `transcript of ${f.transcript.length} characters, limit ${limits.maxTranscriptChars}`);
    if (f.description && f.description.length > MAX_DESCRIPTION) throw new ServiceError("invalid_message", `description over ${MAX_DESCRIPTION} characters`);
    const name = f.name!;
    const refused = this.clash(name) ?? this.full();
    if (refused) throw refused;

    this.pending.add(name);
    try {
      const job = this.queue.then(() => this.cloner.clone({
        name, wav: f.wav, ...(f.transcript ? { transcript: f.transcript } : {}), ...(f.description ? { description: f.description } : {}),
      }));
      this.queue = job.catch(() => {});
      const cloned = await job;
      const bad = this.synth.checkPrompt(cloned.prompt);
      if (bad) throw new Error(`cloned prompt does not fit the model: ${bad}`);
      const meta: StoredVoiceMeta = { createdAt: new Date().toISOString(), transcript: cloned.transcript, speechSeconds: cloned.speechSeconds, owner: up.owner };
      await this.store.save({ prompt: cloned.prompt, meta });
      this.synth.addVoice(cloned.prompt);
      this.meta.set(name, meta);
      const p = cloned.prompt;
      this.log(`voice '${name}' cloned (${p.frames} frames)`);
      return json("201 Created", {
        voice_id: name, name, description: p.description, source: "cloned",
        frames: p.frames, prompt_seconds: p.frames / this.synth.manifest.audio.frame_rate,
        speech_seconds: Math.round(cloned.speechSeconds * 100) / 100,
        has_transcript: p.phonemes.length > 0, phonemes: p.phonemes, created_at: meta.createdAt,
      });
    } finally {
      this.pending.delete(name);
    }
  }

  /** DELETE /v1/voices/{name} by the API key `requester` (null without keys: the local operator, who may delete any).
   * A voice with an owner is deleted only by that key; others get 403 forbidden. */
  async remove(name: string, requester: string | null): Promise<HttpAnswer> {
    const source = this.synth.voiceSource(name);
    if (source === "builtin") return errorAnswer(new ServiceError("builtin_voice", `'${name}' is a built-in voice`), "403 Forbidden");
    if (source !== "cloned") return errorAnswer(new ServiceError("unknown_voice", name.slice(0, 80)));
    const owner = this.meta.get(name)?.owner ?? null;
    if (owner !== null && requester !== null && owner !== requester) {
      return errorWith("403 Forbidden", "forbidden", `voice '${name}' was created by another API key; only that key may delete it`);
    }
    try {
      await this.store.remove(name);
    } catch (e) {
      this.log(`cannot delete voice file of '${name}': ${(e as Error).message}`);
      return errorAnswer(new ServiceError("internal_error", "the voice file could not be deleted"));
    }
    this.synth.removeVoice(name);
    this.meta.delete(name);
    return json("200 OK", { deleted: name });
  }

  async dispose(): Promise<void> {
    await this.queue;
    await this.cloner.dispose();
  }
}
