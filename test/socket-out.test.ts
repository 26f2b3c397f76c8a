/**
 * A socket is never touched after it closed (socket-out.ts). uWS throws on any call to a closed
 * socket, runs the close handler inside ws.end(), and an exception out of a uWS callback ends the
 * process; reporting an error (a send) can pass the backpressure limit and close the socket with 4001
 * right before the caller's own close. The fake socket below keeps those three rules.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceError } from "../src/errors.js";
import { closeForShutdown, deliverMessage, SocketOut, type RawSocket, type SocketSession } from "../src/server/socket-out.js";

const CLOSED = /Invalid access of closed uWS\.WebSocket/;

/** uWS.WebSocket's rules over a client that reads nothing: every byte sent stays buffered. */
class FakeUws implements RawSocket {
  closed = false;
  buffered = 0;
  readonly ends: number[] = [];
  readonly sent: string[] = [];
  /** uWS's close handler, which it runs synchronously inside end(). */
  onClose: () => void = () => {};

  private touch(): void {
    if (this.closed) throw new Error("Invalid access of closed uWS.WebSocket/SSLWebSocket.");
  }

  cork(cb: () => void): void { this.touch(); cb(); }
  send(payload: string | Uint8Array, _binary: boolean): number {
    this.touch();
    this.buffered += typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
    this.sent.push(typeof payload === "string" ? payload : `<${payload.byteLength} bytes>`);
    return 0;
  }
  getBufferedAmount(): number { this.touch(); return this.buffered; }
  end(code: number, _reason: string): void {
    this.touch();
    this.ends.push(code);
    this.closed = true;
    this.onClose();
  }
}

/** A session that answers errors and texts through `out`, as Connection does. */
function session(out: () => SocketOut, onText: (raw: string) => void = () => {}): SocketSession & { closes: number } {
  return {
    closes: 0,
    openContexts: 0,
    onText,
    onBinary() { this.reportError(new ServiceError("binary_not_supported")); },
    onClose() { this.closes++; },
    reportError(e: unknown) { out().send(JSON.stringify((e as ServiceError).toEvent()), false); },
  };
}

/** A socket wired as uws-server.ts wires it: the close handler marks `out` closed and tells the session. */
function wired(limits = { maxBackpressureBytes: 100, slowConsumerBytes: 100 }) {
  const ws = new FakeUws();
  const logs: string[] = [];
  let conn: ReturnType<typeof session> | null = null;
  const out = new SocketOut(ws, limits, (unsent) => conn?.reportError(new ServiceError("slow_consumer", `${unsent} bytes unsent`)));
  const s = session(() => out);
  conn = s;
  ws.onClose = () => { out.closed(); s.onClose(); };
  return { ws, out, conn: s, logs, log: (m: string) => logs.push(m) };
}

test("an oversized message whose error report passes the backpressure limit: closed once (4001), the 1009 close leaves it alone", () => {
  const { ws, out, conn, logs, log } = wired();
  out.send("x".repeat(90), false); // 90 of 100 bytes unsent: still open
  assert.equal(out.open, true);
  assert.doesNotThrow(() => deliverMessage(out, conn, new ArrayBuffer(2000), false, 1000, log));
  assert.deepEqual(ws.ends, [4001], "the report's send closed it; nothing after touched it");
  assert.equal(conn.closes, 1);
  assert.deepEqual(logs, []);
  assert.match(ws.sent[1], /message_too_large/);
  // the fake keeps uWS's rule: the unguarded end(1009) that followed used to throw out of the callback
  assert.throws(() => ws.end(1009, "message too large"), CLOSED);
});

test("an oversized message on a socket with room: the error, then 1009", () => {
  const { ws, out, conn, log } = wired({ maxBackpressureBytes: 10_000, slowConsumerBytes: 10_000 });
  deliverMessage(out, conn, new ArrayBuffer(2000), false, 1000, log);
  assert.deepEqual(ws.ends, [1009]);
  assert.equal(out.open, false);
});

test("a session fault after its own send closed the socket: logged, and the 1011 close does not touch the socket", () => {
  const { ws, out, logs, log } = wired();
  const s = session(() => out, () => {
    out.send("y".repeat(200), false); // over the limit: closed with 4001
    throw new Error("boom");
  });
  ws.onClose = () => { out.closed(); s.onClose(); };
  assert.doesNotThrow(() => deliverMessage(out, s, new TextEncoder().encode("{}").buffer as ArrayBuffer, false, 1000, log));
  assert.deepEqual(ws.ends, [4001]);
  assert.equal(logs.length, 1);
  assert.match(logs[0], /boom/);
});

test("shutdown: a socket the shutdown notice itself closes (backpressure) is not closed again", () => {
  const { ws, out, conn, log } = wired();
  out.send("z".repeat(95), false);
  assert.doesNotThrow(() => closeForShutdown(out, conn, log));
  assert.deepEqual(ws.ends, [4001]);
  // and one with room gets the notice, then 1001
  const roomy = wired({ maxBackpressureBytes: 10_000, slowConsumerBytes: 10_000 });
  closeForShutdown(roomy.out, roomy.conn, roomy.log);
  assert.match(roomy.ws.sent.at(-1)!, /server_shutting_down/);
  assert.deepEqual(roomy.ws.ends, [1001]);
});

test("the slow-consumer warning is sent once; when it is what passes the limit, the socket closes once", () => {
  const warned = wired({ maxBackpressureBytes: 10_000, slowConsumerBytes: 50 });
  warned.out.send("a".repeat(60), false);
  warned.out.send("b".repeat(10), false);
  assert.equal(warned.ws.sent.filter((m) => m.includes("slow_consumer")).length, 1);
  assert.deepEqual(warned.ws.ends, []);

  const { ws, out } = wired({ maxBackpressureBytes: 100, slowConsumerBytes: 60 });
  assert.doesNotThrow(() => out.send("c".repeat(70), false));
  assert.deepEqual(ws.ends, [4001], "the warning's own send passed 100 bytes");
  assert.doesNotThrow(() => out.send("d", false));
  assert.doesNotThrow(() => out.close(1000, "done"));
  assert.deepEqual(ws.ends, [4001]);
});

test("after uWS closed the socket (client gone), sends and closes are no-ops", () => {
  const { ws, out } = wired();
  ws.end(1006, "");
  assert.equal(out.open, false);
  assert.doesNotThrow(() => { out.send("late", false); out.close(1000, "late"); });
  assert.deepEqual(ws.ends, [1006]);
});

test("an end() that throws anyway (uWS closed the socket without telling us yet) does not escape", () => {
  const ws = new FakeUws();
  ws.closed = true;
  const out = new SocketOut(ws, { maxBackpressureBytes: 100, slowConsumerBytes: 100 }, () => {});
  assert.doesNotThrow(() => out.close(1011, "internal error"));
});
