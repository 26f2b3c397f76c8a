/**
 * A WebSocket's way out (sending with the backpressure limits, closing) and the delivery of its
 * messages to the session, kept apart from uws-server.ts so that uWS's one unforgiving rule is in
 * one place and can be tested without a socket: a socket that has closed must never be touched
 * again. uWS throws ("Invalid access of closed uWS.WebSocket") on any call to a closed socket, an
 * exception out of a uWS callback ends the process, and ws.end() runs the close handler
 * synchronously, so any send may close the socket under its caller (a send over the backpressure
 * limit ends it with 4001). Hence every end goes through SocketOut.close(), which checks and
 * clears the open flag, and everything that may have sent checks the flag again before touching
 * the socket.
 */
import { CLOSE_CODES, ServiceError } from "../errors.js";

/** What a socket's route makes of its messages: the native Connection, or a compatibility session. */
export interface SocketSession {
  onText(raw: string): void;
  onBinary(): void;
  onClose(): void;
  reportError(e: unknown): void;
  readonly openContexts: number;
}

/** The part of uWS.WebSocket used here (a test stands in for it). */
export interface RawSocket {
  cork(cb: () => void): unknown;
  /** 1 sent, 0 buffered (backpressure), 2 dropped (over maxBackpressure). */
  send(payload: string | Uint8Array, isBinary: boolean): number;
  getBufferedAmount(): number;
  end(code: number, reason: string): void;
}

export interface OutLimits {
  /** Unsent bytes above which the socket is closed with 4001. */
  readonly maxBackpressureBytes: number;
  /** Unsent bytes at which the session is warned once (slow_consumer). */
  readonly slowConsumerBytes: number;
}

export class SocketOut {
  private isOpen = true;
  private warnedSlow = false;

  /** `onSlow` is told once when the backlog passes slowConsumerBytes (it may send, and so close the socket). */
  constructor(private readonly ws: RawSocket, private readonly limits: OutLimits, private readonly onSlow: (unsentBytes: number) => void) {}

  /** False once we ended the socket or uWS closed it: nothing may touch it any more. */
  get open(): boolean {
    return this.isOpen;
  }

  /** uWS closed the socket (its close handler runs): from now on it must not be touched. */
  closed(): void {
    this.isOpen = false;
  }

  send(payload: string | Uint8Array, binary: boolean): void {
    if (!this.isOpen) return;
    let status = 1;
    this.ws.cork(() => { status = this.ws.send(payload, binary); });
    // a failed write may have let uWS close the socket inside send()
    if (!this.isOpen) return;
    const backlog = this.ws.getBufferedAmount();
    if (status === 2 || backlog > this.limits.maxBackpressureBytes) {
      this.close(CLOSE_CODES.slow_consumer, "slow consumer");
      return;
    }
    if (!this.warnedSlow && backlog > this.limits.slowConsumerBytes) {
      this.warnedSlow = true;
      this.onSlow(backlog);
    }
  }

  /** End the socket once; a no-op when it is closed already (by us, by uWS, or by a send just now). */
  close(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    try {
      this.ws.end(code, reason);
    } catch {
      // only a socket uWS had closed without telling us yet throws here: it is closed, as wanted, and an
      // exception must not leave a uWS callback
    }
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * One message from the client to its session. Never throws: a fault is logged and ends the socket
 * (1011), and every close here goes through `out`, which knows whether reporting an error (a send)
 * has already closed the socket.
 */
export function deliverMessage(out: SocketOut, conn: SocketSession, message: ArrayBuffer, isBinary: boolean,
  maxMessageBytes: number, log: (msg: string) => void): void {
  try {
    if (message.byteLength > maxMessageBytes) {
      conn.reportError(new ServiceError("message_too_large", `${message.byteLength} bytes, limit ${maxMessageBytes}`));
      out.close(CLOSE_CODES.message_too_big, "message too large");
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
    log(`unexpected error in message handler: ${(e as Error).stack}`);
    out.close(CLOSE_CODES.internal_error, "internal error");
  }
}

/** Server shutdown for one socket: tell the session (a send, which may itself close the socket), then close with 1001. */
export function closeForShutdown(out: SocketOut, conn: SocketSession | null, log: (msg: string) => void): void {
  try {
    conn?.reportError(new ServiceError("server_shutting_down"));
  } catch (e) {
    log(`error while reporting shutdown to a connection: ${(e as Error).stack}`);
  }
  out.close(CLOSE_CODES.going_away, "server shutting down");
}
