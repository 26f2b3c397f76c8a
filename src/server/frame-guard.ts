/**
 * Frame guard: a small TCP (or TLS) front on the public port that pipes bytes
 * to uWS on a loopback-only port and refuses oversized WebSocket frames itself.
 *
 * Why: for a frame whose header declares more than `maxPayloadLength`, uWS
 * drops the TCP connection without a close frame (the client sees 1006) and
 * offers no hook. The guard reads the client's frame headers after a 101
 * upgrade (2 bytes + 16/64-bit length + mask), skips payload bytes without
 * holding them, and when a frame (or a fragmented message) declares more than
 * `maxFrameBytes` it writes a close frame 1009 to the client itself (1007 for a
 * text message that is not valid UTF-8, which uWS would also drop silently), at a
 * frame boundary of the server's stream, and drops the uWS side. It never
 * holds more than a partial header (14 bytes), a request or response head
 * (`maxHeadBytes`) and one socket read in flight.
 *
 * Peer address: every request head it forwards gets `x-soundstorm-peer:
 * <secret> <address>` (client copies are stripped); uws-server.ts trusts that
 * header only with the per-process secret, so auth (loopback-only without
 * keys) and per-address limits still see the real peer.
 *
 * HTTP: ONE REQUEST PER CONNECTION. The request's body is framed
 * (Content-Length or chunked; both, or any other transfer coding, is a 400)
 * and forwarded as it streams; anything the client sends after it (pipelined
 * requests) is discarded; the response is framed the same way, gets
 * `Connection: close` in its head, and after it both sides are closed. The
 * request itself keeps its Connection header: told to close, uWS would close
 * right after answering early (413 on a declared length) with the rest of the
 * upload unread, and the reset would destroy the answer in flight. Why not
 * keep-alive: to put the header on every request the guard would have to
 * parse every head of a keep-alive stream, and to know whether an upgrade
 * succeeded it would have to pair responses with requests (pipelining). uWS
 * itself answers pipelined requests even after `Connection: close` (checked),
 * so a request smuggled behind another one would reach it without the trusted
 * header. The HTTP routes are low-rate (scrapes, health checks, uploads, one
 * long speech stream per request), where a new TCP connection per request
 * costs well under a millisecond; WebSocket sessions, the hot path, are one
 * upgrade per connection anyway.
 */
import net from "node:net";
import tls from "node:tls";

export const PEER_HEADER = "x-soundstorm-peer";

export interface FrameGuardOptions {
  /** Public address. */
  readonly host: string;
  readonly port: number;
  /** uWS, listening on 127.0.0.1. */
  readonly upstreamPort: number;
  /** Largest WebSocket frame (or fragmented message) payload passed on. */
  readonly maxFrameBytes: number;
  /** Largest HTTP request or response head (431 / dropped above it). */
  readonly maxHeadBytes: number;
  /** Terminate TLS here (PEM). */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | null;
  /** Shared with the upstream, which trusts PEER_HEADER only with it. */
  readonly secret: string;
  /** A connection was closed with 1009 for an oversized frame. */
  readonly onRefused?: () => void;
  /** Seconds to wait for a complete request head (slow clients). */
  readonly headTimeoutS?: number;
}

export interface FrameGuardStats {
  /** Connections accepted. */
  connections: number;
  /** Connections closed with 1009 for an oversized frame. */
  refusedFrames: number;
  /** Connections closed with 1007 for a text message that is not valid UTF-8. */
  badUtf8: number;
  /** Requests refused by the guard itself (malformed head or framing). */
  badRequests: number;
  /** Most bytes one connection kept waiting for more input (an incomplete head, pre-101 data, a partial frame header). */
  peakHeldBytes: number;
}

export interface FrameGuard {
  readonly port: number;
  readonly stats: FrameGuardStats;
  /** Stop listening; open connections end with their upstream (destroyed after graceMs). */
  close(graceMs?: number): void;
}

/**
 * Walks a stream of WebSocket frames without holding payload: only a partial
 * header (at most 14 bytes) is kept between chunks.
 */
export class FrameScanner {
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  private readonly head = Buffer.alloc(14);
  private headLen = 0;
  /** Payload so far of the current fragmented data message. */
  private messageBytes = 0;
  /** Why the last scan refused: an oversized frame (1009) or a text message that is not UTF-8 (1007). */
  refusal: "too_large" | "bad_utf8" | null = null;
  /** UTF-8 check of text messages (client to server only): the current frame's mask and payload position,
   * whether its message is text, and the validator's state between bytes (and frames). */
  private readonly mask = Buffer.alloc(4);
  private masked = false;
  private maskAt = 0;
  private fin = false;
  private text = false;
  private checking = false;
  private need = 0;
  private lo = 0x80;
  private hi = 0xbf;

  constructor(private readonly maxPayload: number, private readonly checkUtf8 = false) {}

  /** Between frames (no partial header, no payload pending). */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.headLen === 0;
  }

  get heldBytes(): number {
    return this.headLen;
  }

  /**
   * Consume `chunk`. Returns -1 when all of it belongs to frames within the
   * limit; else the offset in `chunk` where the header of the first refused
   * frame starts (0 when it started in an earlier chunk): the bytes before it
   * may be passed on, the rest must not. With `stopAtBoundary`, returns
   * instead the offset of the first frame boundary (-1: the chunk ends inside
   * a frame); bytes after it are not consumed.
   */
  scan(chunk: Uint8Array, stopAtBoundary = false): number {
    const n = chunk.length;
    let i = 0;
    for (;;) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        if (this.checking) {
          const bad = this.validate(chunk, i, i + take);
          if (bad >= 0) return this.refuse("bad_utf8", bad);
        }
        this.remaining -= take;
        i += take;
        if (this.remaining > 0) return -1;
      }
      // a text message must not end inside a character
      if (this.checking && this.fin && this.headLen === 0 && this.need > 0) return this.refuse("bad_utf8", i);
      if (stopAtBoundary && this.headLen === 0) return i;
      if (i >= n) return -1;
      const headStart = i - this.headLen;
      while (this.headLen < 2 && i < n) this.head[this.headLen++] = chunk[i++];
      if (this.headLen < 2) return -1;
      const len7 = this.head[1] & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.head[1] & 0x80 ? 4 : 0);
      while (this.headLen < need && i < n) this.head[this.headLen++] = chunk[i++];
      if (this.headLen < need) return -1;
      let payload: number;
      if (len7 < 126) payload = len7;
      else if (len7 === 126) payload = this.head.readUInt16BE(2);
      else {
        const hi = this.head.readUInt32BE(2);
        // above 2^53 (or a set top bit, which RFC 6455 forbids): no cap lets that through
        payload = hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * 2 ** 32 + this.head.readUInt32BE(6);
      }
      const opcode = this.head[0] & 0x0f;
      let total = payload;
      if (opcode < 8) {
        // data frames: a continuation (0) adds to the message; FIN ends it
        total = (opcode === 0 ? this.messageBytes : 0) + payload;
        this.messageBytes = this.head[0] & 0x80 ? 0 : total;
      }
      if (total > this.maxPayload) return this.refuse("too_large", Math.max(0, headStart));
      this.headLen = 0;
      this.remaining = payload;
      this.startPayload(opcode, need);
    }
  }

  private refuse(why: "too_large" | "bad_utf8", at: number): number {
    this.refusal = why;
    return at;
  }

  private startPayload(opcode: number, headBytes: number): void {
    if (!this.checkUtf8 || opcode >= 8) {
      // control frames (ping, pong, close) may sit between a message's fragments: its state carries over
      this.checking = false;
      return;
    }
    if (opcode !== 0) {
      this.text = opcode === 1;
      this.need = 0;
    }
    this.fin = (this.head[0] & 0x80) !== 0;
    this.checking = this.text;
    this.masked = (this.head[1] & 0x80) !== 0;
    if (this.masked) this.head.copy(this.mask, 0, headBytes - 4, headBytes);
    this.maskAt = 0;
  }

  /** Check payload bytes [from, to) of a text message (RFC 3629); the offset of the first bad byte, or -1. */
  private validate(chunk: Uint8Array, from: number, to: number): number {
    for (let k = from; k < to; k++) {
      const b = this.masked ? chunk[k] ^ this.mask[this.maskAt++ & 3] : chunk[k];
      if (this.need > 0) {
        if (b < this.lo || b > this.hi) return k;
        this.need--;
        this.lo = 0x80;
        this.hi = 0xbf;
      } else if (b >= 0x80) {
        // lead byte: how many continuation bytes follow, and the range of the first (no overlongs, no surrogates)
        if (b >= 0xc2 && b <= 0xdf) this.need = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          this.need = 2;
          if (b === 0xe0) this.lo = 0xa0;
          else if (b === 0xed) this.hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.need = 3;
          if (b === 0xf0) this.lo = 0x90;
          else if (b === 0xf4) this.hi = 0x8f;
        } else return k;
      }
    }
    return -1;
  }
}

/** Close frame (server to client, unmasked) with a status code and a short reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const r = Buffer.from(reason, "utf8").subarray(0, 123);
  const f = Buffer.alloc(4 + r.length);
  f[0] = 0x88;
  f[1] = 2 + r.length;
  f.writeUInt16BE(code, 2);
  r.copy(f, 4);
  return f;
}

interface Head {
  startLine: string;
  headers: [string, string][];
}

const HEAD_END = Buffer.from("\r\n\r\n");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parse a head (latin1, without the final CRLFCRLF); null if malformed. */
function parseHead(text: string): Head | null {
  const lines = text.split("\r\n");
  const startLine = lines[0];
  const headers: [string, string][] = [];
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k];
    const colon = line.indexOf(":");
    // no obs-fold, no space before the colon: a lenient parser downstream must not read a header we did not see
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return null;
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { startLine, headers };
}

const values = (h: Head, name: string) => h.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

function serializeHead(h: Head): Buffer {
  let s = h.startLine + "\r\n";
  for (const [k, v] of h.headers) s += `${k}: ${v}\r\n`;
  return Buffer.from(s + "\r\n", "latin1");
}

/** Body framing of one HTTP message: how many of the following bytes belong to it. */
class BodyFramer {
  private remaining = 0;
  private state: "length" | "size" | "data" | "data-crlf" | "trailer" | "until-close" | "done";
  private line = "";
  error = false;

  constructor(kind: { length: number } | "chunked" | "until-close") {
    if (kind === "chunked") this.state = "size";
    else if (kind === "until-close") this.state = "until-close";
    else {
      this.remaining = kind.length;
      this.state = kind.length > 0 ? "length" : "done";
    }
  }

  get done(): boolean {
    return this.state === "done";
  }

  /** Bytes of `chunk` (from its start) that belong to the body; `done` after the last one. */
  consume(chunk: Uint8Array): number {
    const n = chunk.length;
    let i = 0;
    while (i < n && !this.error) {
      switch (this.state) {
        case "done": return i;
        case "until-close": return n;
        case "length":
        case "data": {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) { this.state = this.state === "length" ? "done" : "data-crlf"; this.line = ""; }
          break;
        }
        case "size":
        case "data-crlf":
        case "trailer": {
          const c = chunk[i++];
          if (c !== 0x0a) {
            this.line += String.fromCharCode(c);
            if (this.line.length > 1024) this.error = true;
            break;
          }
          if (!this.line.endsWith("\r")) { this.error = true; break; }
          const line = this.line.slice(0, -1);
          this.line = "";
          if (this.state === "data-crlf") {
            if (line !== "") this.error = true;
            this.state = "size";
          } else if (this.state === "size") {
            const size = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line);
            if (!size) { this.error = true; break; }
            this.remaining = parseInt(size[1], 16);
            this.state = this.remaining === 0 ? "trailer" : "data";
          } else if (line === "") {
            this.state = "done";
          }
          break;
        }
      }
    }
    return i;
  }
}

/** Which framing a message head declares; null when ambiguous or invalid (request smuggling vectors). */
function framingOf(h: Head, noFramingMeans: "empty" | "until-close"): { length: number } | "chunked" | "until-close" | null {
  const te = values(h, "transfer-encoding");
  const cl = values(h, "content-length");
  if (te.length) {
    if (cl.length || te.length > 1 || te[0].toLowerCase() !== "chunked") return null;
    return "chunked";
  }
  if (cl.length) {
    if (!cl.every((v) => v === cl[0]) || !/^\d{1,15}$/.test(cl[0])) return null;
    return { length: Number(cl[0]) };
  }
  return noFramingMeans === "empty" ? { length: 0 } : "until-close";
}

function plainAddress(addr: string | undefined): string {
  if (!addr) return "unknown";
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1] : addr;
}

function indexOfHeadEnd(parts: Buffer[], size: number): { buf: Buffer; end: number } | null {
  const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
  const end = buf.indexOf(HEAD_END);
  if (parts.length > 1) { parts.length = 0; parts.push(buf); }
  return end < 0 ? null : { buf, end };
}

export function startFrameGuard(o: FrameGuardOptions): Promise<FrameGuard> {
  const stats: FrameGuardStats = { connections: 0, refusedFrames: 0, badUtf8: 0, badRequests: 0, peakHeldBytes: 0 };
  const live = new Set<net.Socket>();
  const onSocket = (client: net.Socket) => {
    stats.connections++;
    live.add(client);
    client.once("close", () => live.delete(client));
    guardConnection(client, o, stats);
  };
  const server = o.tls
    ? tls.createServer({ cert: o.tls.cert, key: o.tls.key, allowHalfOpen: true }, onSocket)
    : net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  // a failed TLS handshake is the client's problem; the error lands on the socket, which is destroyed
  server.on("tlsClientError", (_e: Error, s: net.Socket) => s.destroy());
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        stats,
        close(graceMs = 2000) {
          server.close();
          if (live.size) setTimeout(() => { for (const s of live) s.destroy(); }, graceMs).unref();
        },
      });
    });
  });
}

function guardConnection(client: net.Socket, o: FrameGuardOptions, stats: FrameGuardStats): void {
  client.setNoDelay(true);
  const address = plainAddress(client.remoteAddress);
  const upstream = net.connect({ host: "127.0.0.1", port: o.upstreamPort, noDelay: true, allowHalfOpen: true });
  const held = (n: number) => { if (n > stats.peakHeldBytes) stats.peakHeldBytes = n; };

  // client -> upstream
  let req: "head" | "body" | "after" | "ws" | "refusing" = "head";
  let reqParts: Buffer[] = [];
  let reqSize = 0;
  let reqBody: BodyFramer | null = null;
  let upgradeRequested = false;
  let isHead = false;
  /** Bytes the client sent after an upgrade request, before the 101 (clients should send none). */
  let early: Buffer[] = [];
  let earlySize = 0;
  const inScanner = new FrameScanner(o.maxFrameBytes, true);

  // upstream -> client
  let res: "head" | "body" | "ws" | "done" = "head";
  let resParts: Buffer[] = [];
  let resSize = 0;
  let resBody: BodyFramer | null = null;
  const outScanner = new FrameScanner(Number.POSITIVE_INFINITY);
  /** Refusing: the close frame goes out at the next frame boundary of the server's stream. */
  let closeAtBoundary = false;

  let finished = false;
  const destroyBoth = () => {
    finished = true;
    client.destroy();
    upstream.destroy();
  };
  const headTimer = setTimeout(destroyBoth, (o.headTimeoutS ?? 10) * 1000);
  headTimer.unref();

  /** End our side towards the client (after what is queued); a client that never closes its side is dropped later. */
  const endClient = (last?: Buffer, lingerMs = 10_000) => {
    if (client.destroyed || client.writableEnded) return;
    if (last) client.end(last); else client.end();
    setTimeout(() => client.destroy(), lingerMs).unref();
  };

  client.on("error", destroyBoth);
  // uWS may reset its side (say after answering 413 to a body it did not read): the client still
  // gets everything forwarded so far, then our FIN, as it would have from uWS directly
  upstream.on("error", () => upstream.destroy());
  client.on("close", () => { clearTimeout(headTimer); upstream.destroy(); });
  // the client half-closed: pass it on (an HTTP client may shut down its side and wait for the answer)
  client.on("end", () => {
    if (req === "refusing") client.destroy();
    else if (!upstream.destroyed) upstream.end();
  });
  const upstreamGone = () => {
    clearTimeout(headTimer);
    if (closeAtBoundary) { finishRefusal(); return; }
    endClient();
    // nothing more goes upstream: keep reading the client (dropping it) so that it reads our answer
    client.resume();
  };
  upstream.on("end", upstreamGone);
  upstream.on("close", upstreamGone);

  // backpressure both ways, as pipe() does: stop reading one side while the other's buffer is full
  let clientPausedForUpstream = false;
  let upstreamPausedForClient = false;
  const toUpstream = (b: Buffer) => {
    if (b.length && !upstream.destroyed && !upstream.write(b) && !clientPausedForUpstream) {
      clientPausedForUpstream = true;
      client.pause();
      upstream.once("drain", () => { clientPausedForUpstream = false; client.resume(); });
    }
  };
  const toClient = (b: Buffer) => {
    if (b.length && !client.destroyed && !client.write(b) && !upstreamPausedForClient) {
      upstreamPausedForClient = true;
      upstream.pause();
      client.once("drain", () => { upstreamPausedForClient = false; upstream.resume(); });
    }
  };

  /** The guard answers a request itself (nothing was forwarded yet) and closes. */
  const answer = (status: string, why: string) => {
    stats.badRequests++;
    const body = `${why}\n`;
    req = "after";
    clearTimeout(headTimer);
    endClient(Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
    upstream.destroy();
  };

  const refuse = () => {
    req = "refusing";
    if (inScanner.refusal === "bad_utf8") stats.badUtf8++;
    else {
      stats.refusedFrames++;
      o.onRefused?.();
    }
    client.resume();
    // uWS must not see the rest; the close frame waits for the frame it may be writing to finish
    if (outScanner.atBoundary) finishRefusal();
    else {
      closeAtBoundary = true;
      setTimeout(() => { if (closeAtBoundary) destroyBoth(); }, 2000).unref();
    }
  };
  function finishRefusal() {
    closeAtBoundary = false;
    res = "done";
    upstream.destroy();
    // FIN after the close frame, then keep reading (and dropping) until the client closes: a reset
    // while its data is unread could discard our close frame before the client reads it
    endClient(inScanner.refusal === "bad_utf8" ? closeFrame(1007, "text message is not valid UTF-8") : closeFrame(1009, "frame too large"), 5000);
  }

  const wsIn = (chunk: Buffer) => {
    held(inScanner.heldBytes);
    const bad = inScanner.scan(chunk);
    held(inScanner.heldBytes);
    if (bad < 0) { toUpstream(chunk); return; }
    toUpstream(chunk.subarray(0, bad));
    refuse();
  };

  client.on("data", (chunk: Buffer) => {
    if (finished) return;
    switch (req) {
      case "ws": wsIn(chunk); return;
      case "refusing": return;
      case "after": {
        if (upgradeRequested && res === "head") {
          // before the 101: hold (bounded; over it, stop reading instead)
          early.push(chunk);
          earlySize += chunk.length;
          held(earlySize + reqSize);
          if (earlySize > 64 * 1024) client.pause();
        }
        // anything after the one request of a plain HTTP connection is dropped
        return;
      }
      case "body": {
        const n = reqBody!.consume(chunk);
        if (reqBody!.error) { destroyBoth(); return; }
        toUpstream(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (reqBody!.done) req = "after";
        return;
      }
      case "head": {
        reqParts.push(chunk);
        reqSize += chunk.length;
        const found = indexOfHeadEnd(reqParts, reqSize);
        if (!found) {
          held(reqSize);
          if (reqSize > o.maxHeadBytes) answer("431 Request Header Fields Too Large", "request head too large");
          return;
        }
        if (found.end > o.maxHeadBytes) { answer("431 Request Header Fields Too Large", "request head too large"); return; }
        const rest = found.buf.subarray(found.end + 4);
        reqParts = [];
        reqSize = 0;
        const head = parseHead(found.buf.toString("latin1", 0, found.end));
        const start = head && /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(head.startLine);
        if (!head || !start) { answer("400 Bad Request", "malformed request head"); return; }
        // the rest is bounded by uWS's own timeouts (HTTP idle, WebSocket idleTimeout)
        clearTimeout(headTimer);
        const framing = framingOf(head, "empty");
        if (!framing || framing === "until-close") { answer("400 Bad Request", "ambiguous or invalid message framing"); return; }
        isHead = start[1] === "HEAD";
        upgradeRequested = values(head, "upgrade").some((v) => /(^|,)\s*websocket\s*(,|$)/i.test(v));
        head.headers = head.headers.filter(([k]) => {
          const l = k.toLowerCase();
          // ours is the only peer header uWS sees
          return l !== PEER_HEADER;
        });
        head.headers.push([PEER_HEADER, `${o.secret} ${address}`]);
        toUpstream(serializeHead(head));
        reqBody = new BodyFramer(framing);
        req = reqBody.done ? "after" : "body";
        if (rest.length) client.emit("data", rest);
        return;
      }
    }
  });

  upstream.on("data", (chunk: Buffer) => {
    if (finished) return;
    switch (res) {
      case "done": return;
      case "ws": {
        if (!closeAtBoundary) {
          outScanner.scan(chunk);
          toClient(chunk);
          return;
        }
        const k = outScanner.scan(chunk, true);
        if (k < 0) { toClient(chunk); return; }
        toClient(chunk.subarray(0, k));
        finishRefusal();
        return;
      }
      case "body": {
        const n = resBody!.consume(chunk);
        toClient(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (resBody!.error) { destroyBoth(); return; }
        if (resBody!.done) {
          res = "done";
          upstream.destroy();
          endClient();
        }
        return;
      }
      case "head": {
        resParts.push(chunk);
        resSize += chunk.length;
        const found = indexOfHeadEnd(resParts, resSize);
        if (!found) {
          held(resSize);
          if (resSize > o.maxHeadBytes) destroyBoth();
          return;
        }
        const rest = found.buf.subarray(found.end + 4);
        resParts = [];
        resSize = 0;
        const head = parseHead(found.buf.toString("latin1", 0, found.end));
        const status = head && /^HTTP\/1\.[01] (\d{3})/.exec(head.startLine);
        if (!head || !status) { destroyBoth(); return; }
        const code = Number(status[1]);
        if (code === 101 && upgradeRequested) {
          clearTimeout(headTimer);
          toClient(found.buf.subarray(0, found.end + 4));
          res = "ws";
          req = "ws";
          const pending = early;
          early = [];
          earlySize = 0;
          for (const b of pending) { if (req === "ws") wsIn(b); }
          if (!clientPausedForUpstream) client.resume();
        } else if (code >= 100 && code < 200) {
          // interim (100 Continue): passed on as is; the final response follows
          toClient(found.buf.subarray(0, found.end + 4));
        } else {
          clearTimeout(headTimer);
          // the final answer: the connection's last (one request per connection)
          early = [];
          earlySize = 0;
          if (!clientPausedForUpstream) client.resume();
          const noBody = isHead || code === 204 || code === 304;
          const framing = noBody ? { length: 0 } : framingOf(head, "until-close");
          if (!framing) { destroyBoth(); return; }
          head.headers = head.headers.filter(([k]) => k.toLowerCase() !== "connection" && k.toLowerCase() !== "keep-alive");
          head.headers.push(["Connection", "close"]);
          toClient(serializeHead(head));
          resBody = new BodyFramer(framing);
          res = "body";
          if (resBody.done) {
            res = "done";
            upstream.destroy();
            endClient();
            return;
          }
        }
        if (rest.length) upstream.emit("data", rest);
        return;
      }
    }
  });
}
