/**
 * The only module that touches uWebSockets.js. It absorbs uWS's rules: message
 * buffers are copied before use, HTTP responses register onAborted, writes are
 * corked, every callback catches its exceptions, and payload, backpressure and
 * idle limits are set explicitly. Everything else sees a Connection and a sink.
 */
import uWS from "uWebSockets.js";
import type { ServerConfig } from "../config.js";
import { CLOSE_CODES, ServiceError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { Connection } from "../session/connection.js";
import type { Synthesizer } from "../synth/synthesizer.js";

interface SocketData {
  conn: Connection | null;
  open: boolean;
  warnedSlow: boolean;
}

export interface RunningServer {
  readonly port: number;
  /** Stop listening and close every socket. */
  close(): Promise<void>;
}

export interface ServerDeps {
  readonly config: ServerConfig;
  readonly metrics: Metrics;
  /** null until models are loaded; /readyz reports it. */
  readonly synth: () => Synthesizer | null;
  readonly log: (msg: string) => void;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

export function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { config, metrics } = deps;
  const sockets = new Set<uWS.WebSocket<SocketData>>();
  const app = uWS.App();

  const text = (res: uWS.HttpResponse, status: string, body: string, type = "text/plain; charset=utf-8") => {
    res.cork(() => res.writeStatus(status).writeHeader("content-type", type).end(body));
  };

  app.get("/healthz", (res) => text(res, "200 OK", "ok\n"));
  app.get("/readyz", (res) => {
    const ready = deps.synth() !== null;
    text(res, ready ? "200 OK" : "503 Service Unavailable", ready ? "ready\n" : "loading\n");
  });
  app.get("/metrics", (res) => {
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    metrics.registry.metrics().then(
      (body) => { if (!aborted) text(res, "200 OK", body, metrics.registry.contentType); },
      (e) => { if (!aborted) text(res, "500 Internal Server Error", String(e)); },
    );
  });

  app.ws<SocketData>("/v1/stream", {
    compression: uWS.DISABLED,
    maxPayloadLength: config.limits.maxFrameBytes,
    maxBackpressure: config.limits.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: config.limits.idleTimeoutS,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      const synth = deps.synth();
      if (!synth) {
        res.cork(() => res.writeStatus("503 Service Unavailable").end("models loading\n"));
        return;
      }
      res.upgrade<SocketData>(
        { conn: null, open: true, warnedSlow: false },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
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
        if (status === 2) {
          data.open = false;
          ws.end(CLOSE_CODES.slow_consumer, "slow consumer");
          return;
        }
        if (!data.warnedSlow && ws.getBufferedAmount() > config.limits.slowConsumerBytes) {
          data.warnedSlow = true;
          metrics.slowConsumers.inc();
          data.conn?.reportError(new ServiceError("slow_consumer", `${ws.getBufferedAmount()} bytes unsent`));
        }
      };
      data.conn = new Connection({ synth, config, metrics }, {
        sendJson: (ev) => send(JSON.stringify(ev), false),
        sendBinary: (bytes) => send(bytes, true),
      });
      ws.cork(() => ws.send(JSON.stringify(data.conn!.hello()), false));
    },

    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (!conn) return;
      try {
        if (message.byteLength > config.limits.maxMessageBytes) {
          const err = new ServiceError("message_too_large", `${message.byteLength} bytes, limit ${config.limits.maxMessageBytes}`);
          conn.reportError(err);
          ws.end(CLOSE_CODES.message_too_big, "message too large");
          return;
        }
        if (isBinary) {
          conn.onBinary();
          return;
        }
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
      try {
        data.conn?.onClose();
      } catch (e) {
        deps.log(`error while closing a connection: ${(e as Error).stack}`);
      }
    },
  });

  app.any("/*", (res) => text(res, "404 Not Found", "not found\n"));

  return new Promise((resolve, reject) => {
    app.listen(config.host, config.port, (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`cannot listen on ${config.host}:${config.port}`));
        return;
      }
      const port = uWS.us_socket_local_port(listenSocket);
      resolve({
        port,
        close: async () => {
          uWS.us_listen_socket_close(listenSocket);
          for (const ws of [...sockets]) ws.end(CLOSE_CODES.going_away, "server shutting down");
          (app as unknown as { close(): void }).close();
        },
      });
    });
  });
}
