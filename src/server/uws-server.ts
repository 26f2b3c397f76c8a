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
import { contentTypeRefusal, normalizeOrigin, siteRefusal, type SiteHeaders, type SitePolicy } from "./site-check.js";
import { closeForShutdown, deliverMessage, SocketOut, type SocketSession } from "./socket-out.js";
import { errorAnswer, errorWith, listVoices, type HttpAnswer, type VoiceService } from "./voices.js";

/** A socket's session, started with the socket's way out (send with the backpressure checks, close). */
type SessionFactory = (deps: ConnectionDeps, out: SocketOut) => SocketSession;

interface SocketData {
  conn: SocketSession | null;
  /** Set when the socket opens; every send and close goes through it (socket-out.ts). */
  out: SocketOut | null;
  /** Chosen at the upgrade by the route. */
  start: SessionFactory;
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

/** The error code of a refused authentication (401: no valid key; 403: not allowed from this address). */
const authCode = (status: string): ErrorCode => (status.startsWith("403") ? "forbidden" : "unauthorized");
const CLOSE_HEADROOM_BYTES = 256 * 1024;
/** Retry hint for an upload refused because others are being read or cloned: a clone takes a few seconds. */
const UPLOAD_RETRY_MS = 3000;
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
  /** POST /v1/voices bodies being read or cloned (each holds up to voices.maxUploadBytes). */
  let uploads = 0;
  const policy: SitePolicy = {
    keysConfigured: auth.keysConfigured,
    allowedOrigins: config.auth.allowedOrigins.map((o) => (o === "*" ? o : normalizeOrigin(o) ?? o)),
    allowedHosts: config.auth.allowedHosts.map((h) => h.toLowerCase()),
  };
  const siteHeaders = (req: uWS.HttpRequest): SiteHeaders =>
    ({ host: req.getHeader("host"), origin: req.getHeader("origin"), fetchSite: req.getHeader("sec-fetch-site") });
  /** The owner recorded for what a key creates: its id; nobody without keys (there everyone is the local operator). */
  const ownerOf = (p: Principal): string | null => (auth.keysConfigured ? p.id : null);
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
  /** replyError for a refusal counted in errors_total (as the socket routes count theirs). */
  const refuseHttp = (res: uWS.HttpResponse, status: string, code: ErrorCode, message: string, retryAfterMs?: number) => {
    metrics.errors.inc({ code });
    replyError(res, status, code, message, retryAfterMs);
  };
  /**
   * What every /v1/ HTTP route checks first, synchronously (req is only valid now): the page the request
   * came from (site-check.ts: 403 forbidden), then the key (401/403). Answers a refusal itself and returns
   * null then.
   */
  const gate = (res: uWS.HttpResponse, req: uWS.HttpRequest, query: string): { principal: Principal; site: SiteHeaders } | null => {
    const site = siteHeaders(req);
    const refused = siteRefusal(site, policy);
    if (refused) { refuseHttp(res, "403 Forbidden", "forbidden", refused); return null; }
    const r = auth.authenticate({
      authorization: req.getHeader("authorization"), apiKey: req.getHeader("x-api-key"), protocols: "", query, remoteAddress: peerAddress(res, req),
    });
    if (!r.ok) { refuseHttp(res, r.status, authCode(r.status), r.reason); return null; }
    return { principal: r.principal, site };
  };
  /** A known /v1/ path asked with a method it does not serve: 405 with Allow, not the 404 of unknown paths. */
  const wrongMethod = (allow: string) => (res: uWS.HttpResponse, req: uWS.HttpRequest) => {
    const body = JSON.stringify({ error: { code: "invalid_message", message: `method ${req.getCaseSensitiveMethod()} is not allowed here; allowed: ${allow}` } }) + "\n";
    metrics.errors.inc({ code: "invalid_message" });
    res.cork(() => res.writeStatus("405 Method Not Allowed").writeHeader("allow", allow).writeHeader("content-type", "application/json").end(body));
  };
  /** A slot for one upload, or null when voices.maxConcurrentUploads are taken; the release is idempotent. */
  const takeUploadSlot = (): (() => void) | null => {
    if (uploads >= config.voices.maxConcurrentUploads) return null;
    uploads++;
    let held = true;
    return () => { if (held) { held = false; uploads--; } };
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
    // the key only from a header: a token is not traded for another
    const g = gate(res, req, "");
    if (!g) return;
    if (!auth.keysConfigured) { refuseHttp(res, "404 Not Found", "not_found", "no API keys are configured"); return; }
    reply(res, "200 OK", JSON.stringify(auth.mintToken(g.principal)) + "\n", "application/json");
  });
  app.any("/v1/tokens", wrongMethod("POST"));

  app.get("/v1/voices", (res, req) => {
    if (!gate(res, req, req.getQuery() ?? "")) return;
    const synth = deps.synth();
    if (!synth) { replyError(res, "503 Service Unavailable", "server_shutting_down", "models loading"); return; }
    const a = deps.voices?.()?.list() ?? listVoices(synth);
    reply(res, a.status, a.body, a.contentType);
  });

  // voice cloning: the handlers are in voices.ts; here only the checks, the capped body and the answer
  const voicesRoute = (res: uWS.HttpResponse, req: uWS.HttpRequest, query: string) => {
    const g = gate(res, req, query);
    if (!g) return null;
    let finished = false;
    let onFinish = () => {};
    /** The request is over, answered or aborted: true the first time. */
    const finish = () => {
      if (finished) return false;
      finished = true;
      onFinish();
      return true;
    };
    res.onAborted(() => { finish(); });
    const answer = (a: HttpAnswer) => {
      if (!finish()) return;
      if (a.code) metrics.errors.inc({ code: a.code });
      reply(res, a.status, a.body, a.contentType);
    };
    const voices = deps.voices?.() ?? null;
    if (!voices || draining) { answer(errorAnswer(new ServiceError("server_shutting_down", draining ? undefined : "models loading"))); return null; }
    return {
      voices, answer, ...g,
      refuse: (status: string, code: ErrorCode, message: string, retryAfterMs?: number) => { if (finish()) refuseHttp(res, status, code, message, retryAfterMs); },
      get finished() { return finished; },
      /** Run `f` once when the request is over (answered or aborted). */
      whenFinished: (f: () => void) => { onFinish = f; },
    };
  };
  app.post("/v1/voices", (res, req) => {
    const query = req.getQuery() ?? "";
    const contentType = req.getHeader("content-type");
    const declared = Number(req.getHeader("content-length") || 0);
    const route = voicesRoute(res, req, query);
    if (!route) return;
    const { voices, answer } = route;
    const badType = contentTypeRefusal("voice_upload", contentType, route.site, auth.keysConfigured);
    if (badType) { answer(errorWith("415 Unsupported Media Type", "invalid_message", badType)); return; }
    // what the head alone can refuse is refused before a byte of the body is held
    const early = voices.precheck({ contentType, query });
    if (early) { answer(early); return; }
    const limit = voices.maxUploadBytes;
    const tooLarge = () => answer(errorAnswer(new ServiceError("message_too_large", `limit ${limit} bytes`)));
    if (declared > limit) { tooLarge(); return; }
    const release = takeUploadSlot();
    if (!release) {
      route.refuse("429 Too Many Requests", "at_capacity", `${config.voices.maxConcurrentUploads} voice uploads are being read or cloned`, UPLOAD_RETRY_MS);
      return;
    }
    // the slot is held while the body is read and, once it is whole, until its clone is done (an abort
    // does not stop a clone that has started, nor free the body it holds)
    let cloning = false;
    route.whenFinished(() => { if (!cloning) release(); });
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((ab, last) => {
      if (route.finished) return;
      size += ab.byteLength;
      if (size > limit) { tooLarge(); return; }
      chunks.push(Buffer.from(ab.slice(0)));
      if (!last) return;
      cloning = true;
      voices.create({ contentType, query, body: Buffer.concat(chunks), owner: ownerOf(route.principal) }).then(answer,
        (e) => answer(errorAnswer(new ServiceError("internal_error", String((e as Error).message))))).finally(release);
    });
  });
  app.any("/v1/voices", wrongMethod("GET, POST"));
  app.del("/v1/voices/:name", (res, req) => {
    const raw = req.getParameter(0) ?? "";
    const route = voicesRoute(res, req, req.getQuery() ?? "");
    if (!route) return;
    let name = raw;
    try { name = decodeURIComponent(raw); } catch { /* keep it raw: it is not a valid voice name then */ }
    route.voices.remove(name, ownerOf(route.principal)).then(route.answer,
      (e) => route.answer(errorAnswer(new ServiceError("internal_error", String((e as Error).message)))));
  });
  app.any("/v1/voices/:name", wrongMethod("DELETE"));

  // OpenAI-compatible: POST /v1/audio/speech, audio streamed back with chunked transfer
  app.post("/v1/audio/speech", (res, req) => {
    const contentType = req.getHeader("content-type");
    const g = gate(res, req, req.getQuery() ?? "");
    if (!g) return;
    const { principal } = g;
    const badType = contentTypeRefusal("speech", contentType, g.site, auth.keysConfigured);
    if (badType) { refuseHttp(res, "415 Unsupported Media Type", "invalid_message", badType); return; }
    const abort = new AbortController();
    let finished = false;
    res.onAborted(() => { abort.abort(); finished = true; });
    const fail = (status: string, err: ServiceError) => {
      if (finished) return;
      finished = true;
      metrics.errors.inc({ code: err.code });
      replyError(res, status, err.code, err.message, err.retryAfterMs);
    };
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
      const admitted = admission.openContext(principal);
      if (admitted !== "ok") {
        fail("429 Too Many Requests", new ServiceError(admitted, undefined, undefined, admission.retryAfterMs()));
        return;
      }
      // charged once admitted: a request refused for capacity must not spend the key's budget
      try {
        chargeChars(admission, principal, parsed.req.input.length);
      } catch (e) {
        admission.closeContext(principal);
        const err = e as ServiceError;
        fail(err.code === "rate_limited" ? "429 Too Many Requests" : "400 Bad Request", err);
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
        admission.closeContext(principal);
      });
    });
  });
  app.any("/v1/audio/speech", wrongMethod("POST"));

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
      // browsers send Origin on every handshake and apply no CORS to sockets: the page is checked here
      const offSite = siteRefusal(siteHeaders(req), policy);
      if (offSite) {
        metrics.errors.inc({ code: "forbidden" });
        return refuse("403 Forbidden", offSite);
      }
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
        { conn: null, out: null, start, principal: r.principal, address },
        key, r.protocol, extensions, context,
      );
    },

    open: (ws) => {
      const synth = deps.synth()!;
      const data = ws.getUserData();
      sockets.add(ws);
      metrics.activeSockets.inc();
      const out = new SocketOut(ws, config.limits, (unsent) => {
        metrics.slowConsumers.inc();
        data.conn?.reportError(new ServiceError("slow_consumer", `${unsent} bytes unsent`));
      });
      data.out = out;
      try {
        data.conn = data.start({ synth, config, metrics, admission, principal: data.principal, draining: () => draining }, out);
      } catch (e) {
        // an exception must not leave a uWS callback
        deps.log(`cannot start a socket session: ${(e as Error).stack}`);
        out.close(CLOSE_CODES.internal_error, "internal error");
      }
    },

    message: (ws, message, isBinary) => {
      const { conn, out } = ws.getUserData();
      if (!conn || !out) return;
      deliverMessage(out, conn, message, isBinary, config.limits.maxMessageBytes, deps.log);
    },

    close: (ws) => {
      const data = ws.getUserData();
      // uWS is closing it (perhaps inside our own end(), from a send): it must not be touched from now on
      data.out?.closed();
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
      return (connDeps, out) => new ElevenLabsSession(params, connDeps, { sendText: (json) => out.send(json, false), close: (code, reason) => out.close(code, reason) });
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
            // closed while this loop ran: a closed uWS socket must not be touched
            if (!sockets.has(ws)) continue;
            const { conn, out } = ws.getUserData();
            if (out) closeForShutdown(out, conn, deps.log);
          }
          (app as unknown as { close(): void }).close();
        },
      });
    });
  });
}
