/**
 * The only module that touches uWebSockets.js. It absorbs uWS's rules: request
 * data and message buffers are copied before use, HTTP responses register
 * onAborted, writes are corked, every callback catches its exceptions, and
 * payload, backpressure and idle limits are set explicitly. Everything else
 * sees a Connection and a sink.
 *
 * With `frameGuard.enabled` (the default) uWS listens on 127.0.0.1 only, behind
 * the frame guard (frame-guard.ts) on the public port, which refuses oversized
 * frames with 1009 and terminates TLS; the peer address then comes from the
 * guard's header, trusted only with this process's secret.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import uWS from "uWebSockets.js";
import type { ServerConfig } from "../config.js";
import { CLOSE_CODES, ServiceError, type ErrorCode } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { Connection, type ConnectionDeps } from "../session/connection.js";
import type { Synthesizer } from "../synth/synthesizer.js";
import { Admission, chargeChars } from "./admission.js";
import { Authenticator, type Principal } from "./auth.js";
import { demoAnswer } from "./demo.js";
import { ElevenLabsSession, parseElevenLabsParams } from "./elevenlabs-ws.js";
import { PEER_HEADER, startFrameGuard, type FrameGuard } from "./frame-guard.js";
import { parseSpeechRequest, streamSpeech, type BodySink } from "./openai-speech.js";
import { errorAnswer, listVoices, type HttpAnswer, type VoiceService } from "./voices.js";

/** What a socket's route makes of its messages: the native Connection, or a compatibility session. */
interface SocketSession {
  onText(raw: string): void;
  onBinary(): void;
  onClose(): void;
  reportError(e: unknown): void;
  readonly openContexts: number;
}

/** A socket's way out for its session: send (with the backpressure checks) and close. */
interface SocketOut {
  send(payload: string | Uint8Array, binary: boolean): void;
  close(code: number, reason: string): void;
}

type SessionFactory = (deps: ConnectionDeps, out: SocketOut) => SocketSession;

interface SocketData {
  conn: SocketSession | null;
  /** Chosen at the upgrade by the route. */
  start: SessionFactory;
  open: boolean;
  warnedSlow: boolean;
  principal: Principal;
  address: string;
}

export interface RunningServer {
  readonly port: number;
  readonly admission: Admission;
  /** Stop accepting sockets and contexts (readiness goes false); running contexts go on. */
  startDrain(): void;
  /** Open sockets right now. */
  readonly socketCount: number;
  /** Contexts still generating or still delivering paced audio, over all sockets. */
  liveContexts(): number;
  /** `POST /v1/audio/speech` requests being synthesized. */
  readonly speechRequests: number;
  /** Stop listening and close every socket (1001 with server_shutting_down). */
  close(): Promise<void>;
}

export interface ServerDeps {
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  /** null until models are loaded; /readyz reports it. */
  readonly synth: () => Synthesizer | null;
  /** Voice cloning (/v1/voices); null until models are loaded, absent where not offered. */
  readonly voices?: () => VoiceService | null;
  readonly log: (msg: string) => void;
  /** False while the models cannot run (no inference worker alive): /readyz answers 503 "degraded". */
  readonly healthy?: () => boolean;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The error code of a refused authentication (401: no valid key; 403: not allowed from this address). */
const authCode = (status: string): ErrorCode => (status.startsWith("403") ? "forbidden" : "unauthorized");
const CLOSE_HEADROOM_BYTES = 256 * 1024;
const ab2s = (ab: ArrayBuffer) => Buffer.from(ab).toString();

export function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { config, metrics } = deps;
  const sockets = new Set<uWS.WebSocket<SocketData>>();
  const auth = new Authenticator(config.auth.keys, config.auth.tokenTtlS, config.auth.tokenSecret ?? undefined);
  const admission = new Admission(config.capacity.maxActiveContexts, config.limits.maxSocketsPerAddress);
  let draining = false;
  const guarded = config.frameGuard.enabled;
  // with the guard, TLS ends there and uWS speaks plain HTTP on loopback
  const app = config.tls && !guarded ? uWS.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile }) : uWS.App();
  const guardSecret = Buffer.from(randomBytes(16).toString("hex"));
  let speechRequests = 0;
  /** Who is on the other end: the socket's address, or behind the guard the one its header carries.
   * Behind the guard a request without a valid header did not come through it (it went straight to
   * the loopback-only port): it gets an address that is not loopback, so it is refused without keys. */
  const peerAddress = (res: uWS.HttpResponse, req: uWS.HttpRequest): string => {
    if (!guarded) return ab2s(res.getRemoteAddressAsText());
    const v = Buffer.from(req.getHeader(PEER_HEADER));
    const sp = v.indexOf(0x20);
    if (sp === guardSecret.length && timingSafeEqual(v.subarray(0, sp), guardSecret)) return v.subarray(sp + 1).toString();
    return "unverified";
  };

  const reply = (res: uWS.HttpResponse, status: string, body: string, type = "text/plain; charset=utf-8") => {
    res.cork(() => res.writeStatus(status).writeHeader("content-type", type).end(body));
  };
  /** HTTP APIs answer errors as {"error":{"code","message"}} with the codes of the error table; a refusal that
   * passes with time (at_capacity, rate_limited) also says when: `retry_after_ms` and a Retry-After header. */
  const replyError = (res: uWS.HttpResponse, status: string, code: ErrorCode, message: string, retryAfterMs?: number) => {
    const body = JSON.stringify({ error: { code, message, ...(retryAfterMs !== undefined ? { retry_after_ms: retryAfterMs } : {}) } }) + "\n";
    res.cork(() => {
      res.writeStatus(status).writeHeader("content-type", "application/json");
      if (retryAfterMs !== undefined) res.writeHeader("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      res.end(body);
    });
  };

  app.get("/healthz", (res) => reply(res, "200 OK", "ok\n"));
  app.get("/readyz", (res) => {
    const state = draining ? "draining" : !deps.synth() ? "loading" : deps.healthy?.() === false ? "degraded" : "ready";
    reply(res, state === "ready" ? "200 OK" : "503 Service Unavailable", `${state}\n`);
  });
  app.get("/metrics", (res) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    metrics.registry.metrics().then(
      (body) => { if (!aborted) reply(res, "200 OK", body, metrics.registry.contentType); },
      (e) => { if (!aborted) reply(res, "500 Internal Server Error", String(e)); },
    );
  });
  // browsers cannot set headers on a WebSocket: they trade a key for a short-lived ?token=
  app.post("/v1/tokens", (res, req) => {
    const r = auth.authenticate({
      authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key"), protocols: "", query: "",
      remoteAddress: peerAddress(res, req),
    });
    res.onAborted(() => {});
    if (!r.ok) { replyError(res, r.status, authCode(r.status), r.reason); return; }
    if (!auth.keysConfigured) { replyError(res, "404 Not Found", "not_found", "no API keys are configured"); return; }
    reply(res, "200 OK", JSON.stringify(auth.mintToken(r.principal)) + "\n", "application/json");
  });

  app.get("/v1/voices", (res, req) => {
    const r = auth.authenticate({ authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key"), protocols: "", query: req.getQuery() ?? "", remoteAddress: peerAddress(res, req) });
    if (!r.ok) { replyError(res, r.status, authCode(r.status), r.reason); return; }
    const synth = deps.synth();
    if (!synth) { replyError(res, "503 Service Unavailable", "server_shutting_down", "models loading"); return; }
    const a = deps.voices?.()?.list() ?? listVoices(synth);
    reply(res, a.status, a.body, a.contentType);
  });

  // voice cloning: the handlers are in voices.ts; here only the key check, the capped body and the answer
  const voicesRoute = (res: uWS.HttpResponse, req: uWS.HttpRequest, query: string) => {
    let finished = false;
    res.onAborted(() => { finished = true; });
    const answer = (a: HttpAnswer) => {
      if (finished) return;
      finished = true;
      if (a.code) metrics.errors.inc({ code: a.code });
      reply(res, a.status, a.body, a.contentType);
    };
    const r = auth.authenticate({ authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key"), protocols: "", query, remoteAddress: peerAddress(res, req) });
    if (!r.ok) { finished = true; replyError(res, r.status, authCode(r.status), r.reason); return null; }
    const voices = deps.voices?.() ?? null;
    if (!voices || draining) { answer(errorAnswer(new ServiceError("server_shutting_down", draining ? undefined : "models loading"))); return null; }
    return { voices, answer };
  };
  app.post("/v1/voices", (res, req) => {
    const query = req.getQuery() ?? "";
    const contentType = req.getHeader("content-type");
    const declared = Number(req.getHeader("content-length") || 0);
    const route = voicesRoute(res, req, query);
    if (!route) return;
    const { voices, answer } = route;
    const limit = voices.maxUploadBytes;
    const tooLarge = () => answer(errorAnswer(new ServiceError("message_too_large", `limit ${limit} bytes`)));
    if (declared > limit) { tooLarge(); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((ab, last) => {
      size += ab.byteLength;
      if (size > limit) { tooLarge(); return; }
      chunks.push(Buffer.from(ab.slice(0)));
      if (!last) return;
      voices.create({ contentType, query, body: Buffer.concat(chunks) }).then(answer,
        (e) => answer(errorAnswer(new ServiceError("internal_error", String((e as Error).message)))));
    });
  });
  app.del("/v1/voices/:name", (res, req) => {
    const raw = req.getParameter(0) ?? "";
    const route = voicesRoute(res, req, req.getQuery() ?? "");
    if (!route) return;
    let name = raw;
    try { name = decodeURIComponent(raw); } catch { /* keep it raw: it is not a valid voice name then */ }
    route.voices.remove(name).then(route.answer,
      (e) => route.answer(errorAnswer(new ServiceError("internal_error", String((e as Error).message)))));
  });

  // OpenAI-compatible: POST /v1/audio/speech, audio streamed back with chunked transfer
  app.post("/v1/audio/speech", (res, req) => {
    const abort = new AbortController();
    let finished = false;
    res.onAborted(() => { abort.abort(); finished = true; });
    const address = peerAddress(res, req);
    const r = auth.authenticate({ authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key"), protocols: "", query: req.getQuery() ?? "", remoteAddress: address });
    const fail = (status: string, err: ServiceError) => {
      if (finished) return;
      finished = true;
      metrics.errors.inc({ code: err.code });
      replyError(res, status, err.code, err.message, err.retryAfterMs);
    };
    if (!r.ok) {
      if (!finished) { finished = true; replyError(res, r.status, authCode(r.status), r.reason); }
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((ab, last) => {
      size += ab.byteLength;
      if (size > config.limits.maxMessageBytes) {
        fail("413 Payload Too Large", new ServiceError("message_too_large", `limit ${config.limits.maxMessageBytes} bytes`));
        return;
      }
      chunks.push(Buffer.from(ab.slice(0)));
      if (!last || finished) return;
      const synth = deps.synth();
      if (!synth || draining) { fail("503 Service Unavailable", new ServiceError("server_shutting_down", draining ? undefined : "models loading")); return; }
      let parsed;
      try {
        parsed = parseSpeechRequest(Buffer.concat(chunks).toString("utf8"), synth);
      } catch (e) {
        fail("400 Bad Request", e instanceof ServiceError ? e : new ServiceError("invalid_message", String(e)));
        return;
      }
      try {
        chargeChars(admission, r.principal, parsed.req.input.length);
      } catch (e) {
        const err = e as ServiceError;
        fail(err.code === "rate_limited" ? "429 Too Many Requests" : "400 Bad Request", err);
        return;
      }
      const admitted = admission.openContext(r.principal);
      if (admitted !== "ok") {
        fail("429 Too Many Requests", new ServiceError(admitted, undefined, undefined, admission.retryAfterMs()));
        return;
      }
      let started = false;
      // res.write answers false once uWS holds what the client has not read; the next phrase waits for onWritable
      let backedUp = false;
      let wake: (() => void) | null = null;
      abort.signal.addEventListener("abort", () => wake?.(), { once: true });
      const body: BodySink = {
        write(bytes) {
          if (finished) return;
          res.cork(() => {
            if (!started) {
              started = true;
              res.writeStatus("200 OK").writeHeader("content-type", parsed.format.contentType).writeHeader("cache-control", "no-store");
            }
            if (!res.write(bytes)) backedUp = true;
          });
        },
        writable() {
          if (!backedUp || finished) return Promise.resolve();
          return new Promise<void>((resolve) => {
            wake = () => { wake = null; backedUp = false; resolve(); };
            res.onWritable(() => { wake?.(); return true; });
          });
        },
      };
      metrics.activeContexts.inc();
      speechRequests++;
      streamSpeech(synth, config, parsed.req, parsed.format, body, abort.signal).then(
        ({ audioSeconds }) => {
          metrics.audioSeconds.inc(audioSeconds);
          metrics.contexts.inc({ outcome: abort.signal.aborted ? "cancelled" : "completed" });
          if (!finished) { finished = true; res.cork(() => { if (!started) res.writeStatus("200 OK").writeHeader("content-type", parsed.format.contentType); res.end(); }); }
        },
        (e) => {
          // a client that hung up ends the synthesis with an abort: that is a cancel, not a failure
          metrics.contexts.inc({ outcome: abort.signal.aborted ? "cancelled" : "failed" });
          if (started) { if (!finished) { finished = true; res.close(); } } else fail("500 Internal Server Error", new ServiceError("inference_failed", String((e as Error).message)));
        },
      ).finally(() => {
        speechRequests--;
        metrics.activeContexts.dec();
        admission.closeContext(r.principal);
      });
    });
  });

  /**
   * One WebSocket route. Drain, auth, socket limits, sending with backpressure, message limits and
   * cleanup are shared; `route` reads the request (a ServiceError it throws refuses the upgrade:
   * 404 for unknown_voice, else 400) and says how to start the socket's session.
   */
  const socketRoute = (pattern: string, route: (req: uWS.HttpRequest, synth: Synthesizer) => SessionFactory) => app.ws<SocketData>(pattern, {
    compression: uWS.DISABLED,
    maxPayloadLength: config.limits.maxFrameBytes,
    // headroom above our own limit, so the close frame (4001) still fits when we hit it
    maxBackpressure: config.limits.maxBackpressureBytes + CLOSE_HEADROOM_BYTES,
    closeOnBackpressureLimit: 0,
    idleTimeout: config.limits.idleTimeoutS,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      // everything from req must be read now: uWS reuses it after this callback returns
      const key = req.getHeader("sec-websocket-key");
      const protocols = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const address = peerAddress(res, req);
      const refuse = (status: string, why: string): void => {
        res.cork(() => res.writeStatus(status).writeHeader("content-type", "text/plain").end(`${why}\n`));
      };
      if (draining) return refuse("503 Service Unavailable", "server shutting down");
      if (!deps.synth()) return refuse("503 Service Unavailable", "models loading");
      const r = auth.authenticate({
        // xi-api-key: the header ElevenLabs clients send
        authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key") || req.getHeader("xi-api-key"), protocols,
        query: req.getQuery() ?? "", remoteAddress: address,
      });
      if (!r.ok) {
        metrics.errors.inc({ code: authCode(r.status) });
        return refuse(r.status, r.reason);
      }
      let start: SessionFactory;
      try {
        start = route(req, deps.synth()!);
      } catch (e) {
        const err = e instanceof ServiceError ? e : new ServiceError("invalid_message", String(e));
        metrics.errors.inc({ code: err.code });
        return replyError(res, err.code === "unknown_voice" ? "404 Not Found" : "400 Bad Request", err.code, err.message);
      }
      const limited = admission.openSocket(r.principal, address);
      if (limited) {
        metrics.errors.inc({ code: "too_many_sockets" });
        return refuse("429 Too Many Requests", limited);
      }
      res.upgrade<SocketData>(
        { conn: null, start, open: true, warnedSlow: false, principal: r.principal, address },
        key, r.protocol, extensions, context,
      );
    },

    open: (ws) => {
      const synth = deps.synth()!;
      const data = ws.getUserData();
      sockets.add(ws);
      metrics.activeSockets.inc();
      // uWS send(): 1 sent, 0 buffered (backpressure), 2 dropped (over maxBackpressure)
      const send = (payload: string | Uint8Array, binary: boolean) => {
        if (!data.open) return;
        let status = 1;
        ws.cork(() => { status = ws.send(payload, binary); });
        const backlog = ws.getBufferedAmount();
        if (status === 2 || backlog > config.limits.maxBackpressureBytes) {
          data.open = false;
          ws.end(CLOSE_CODES.slow_consumer, "slow consumer");
          return;
        }
        if (!data.warnedSlow && backlog > config.limits.slowConsumerBytes) {
          data.warnedSlow = true;
          metrics.slowConsumers.inc();
          data.conn?.reportError(new ServiceError("slow_consumer", `${ws.getBufferedAmount()} bytes unsent`));
        }
      };
      data.conn = data.start({ synth, config, metrics, admission, principal: data.principal, draining: () => draining }, {
        send,
        close: (code, reason) => {
          if (!data.open) return;
          data.open = false;
          ws.end(code, reason);
        },
      });
    },

    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (!conn) return;
      try {
        if (message.byteLength > config.limits.maxMessageBytes) {
          conn.reportError(new ServiceError("message_too_large", `${message.byteLength} bytes, limit ${config.limits.maxMessageBytes}`));
          ws.end(CLOSE_CODES.message_too_big, "message too large");
          return;
        }
        if (isBinary) {
          conn.onBinary();
          return;
        }
        // uWS drops a text frame that is not UTF-8 before this handler (and the frame guard closes such a
        // connection with 1007 first), so this decode does not fail in practice; if it ever did, say so
        let raw: string;
        try {
          raw = decoder.decode(new Uint8Array(message.slice(0)));
        } catch {
          conn.reportError(new ServiceError("invalid_message", "text message is not valid UTF-8"));
          return;
        }
        conn.onText(raw);
      } catch (e) {
        deps.log(`unexpected error in message handler: ${(e as Error).stack}`);
        ws.end(CLOSE_CODES.internal_error, "internal error");
      }
    },

    close: (ws) => {
      const data = ws.getUserData();
      data.open = false;
      sockets.delete(ws);
      metrics.activeSockets.dec();
      admission.closeSocket(data.principal, data.address);
      try {
        data.conn?.onClose();
      } catch (e) {
        deps.log(`error while closing a connection: ${(e as Error).stack}`);
      }
    },
  });

  socketRoute("/v1/stream", () => (connDeps, out) => {
    const conn = new Connection(connDeps, {
      sendJson: (ev) => out.send(JSON.stringify(ev), false),
      sendBinary: (bytes) => out.send(bytes, true),
    });
    out.send(JSON.stringify(conn.hello()), false);
    return conn;
  });
  // ElevenLabs-compatible input streaming (elevenlabs-ws.ts): one context per socket, or client-named contexts
  for (const [path, mode] of [["stream-input", "single"], ["multi-stream-input", "multi"]] as const) {
    socketRoute(`/v1/text-to-speech/:voice_id/${path}`, (req, synth) => {
      const params = parseElevenLabsParams(mode, req.getParameter(0) ?? "", req.getQuery() ?? "", synth);
      return (connDeps, out) => new ElevenLabsSession(params, connDeps, { sendText: (json) => out.send(json, false), close: out.close });
    });
  }

  // the browser demo (demo.ts): a static page and the compiled SDK modules it loads; the socket it opens is checked as any
  const demo = (res: uWS.HttpResponse, req: uWS.HttpRequest) => {
    const a = demoAnswer(req.getUrl()) ?? { status: "404 Not Found", body: "not found\n", contentType: "text/plain; charset=utf-8" };
    reply(res, a.status, a.body, a.contentType);
  };
  app.get("/", demo);
  app.get("/static/*", demo);

  app.any("/*", (res) => reply(res, "404 Not Found", "not found\n"));

  return new Promise((resolve, reject) => {
    const [host, port] = guarded ? ["127.0.0.1", 0] : [config.host, config.port];
    app.listen(host, port, async (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`cannot listen on ${host}:${port}`));
        return;
      }
      let guard: FrameGuard | null = null;
      if (guarded) {
        try {
          guard = await startFrameGuard({
            host: config.host, port: config.port, upstreamPort: uWS.us_socket_local_port(listenSocket),
            maxFrameBytes: config.limits.maxFrameBytes, maxHeadBytes: config.frameGuard.maxHeadBytes,
            tls: config.tls ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } : null,
            secret: guardSecret.toString(), onRefused: () => metrics.framesRefused.inc(),
          });
        } catch (e) {
          uWS.us_listen_socket_close(listenSocket);
          (app as unknown as { close(): void }).close();
          reject(e);
          return;
        }
      }
      let listening = true;
      resolve({
        port: guard ? guard.port : uWS.us_socket_local_port(listenSocket),
        admission,
        get socketCount() { return sockets.size; },
        get speechRequests() { return speechRequests; },
        liveContexts() {
          let n = 0;
          for (const ws of sockets) n += ws.getUserData().conn?.openContexts ?? 0;
          return n;
        },
        startDrain() { draining = true; },
        close: async () => {
          draining = true;
          if (listening) uWS.us_listen_socket_close(listenSocket);
          if (listening) guard?.close();
          listening = false;
          for (const ws of [...sockets]) {
            const data = ws.getUserData();
            data.conn?.reportError(new ServiceError("server_shutting_down"));
            ws.end(CLOSE_CODES.going_away, "server shutting down");
          }
          (app as unknown as { close(): void }).close();
        },
      });
    });
  });
}
