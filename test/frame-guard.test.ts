/** The frame guard: oversized frames are refused with 1009 without being buffered; everything else passes through unchanged. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { App } from "../src/app.js";
import { buildConfig, fromEnv } from "../src/config.js";
import { closeFrame, FrameScanner, PEER_HEADER, startFrameGuard } from "../src/server/frame-guard.js";
import { sleep, startTestServer, TestClient } from "./helpers.js";

const MiB = 1024 * 1024;

/** One frame header (client frames are masked; `declared` may exceed the payload actually sent). */
function frameHeader(opcode: number, declared: number, fin = true, masked = true): Buffer {
  const ext = declared < 126 ? 0 : declared < 65536 ? 2 : 8;
  const h = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  h[0] = (fin ? 0x80 : 0) | opcode;
  h[1] = (masked ? 0x80 : 0) | (ext === 0 ? declared : ext === 2 ? 126 : 127);
  if (ext === 2) h.writeUInt16BE(declared, 2);
  if (ext === 8) h.writeBigUInt64BE(BigInt(declared), 2);
  if (masked) h.fill(0, 2 + ext); // a zero mask: the payload goes as is
  return h;
}
const frame = (opcode: number, payload: Buffer, fin = true, masked = true) => Buffer.concat([frameHeader(opcode, payload.length, fin, masked), payload]);

interface ServerFrame { opcode: number; payload: Buffer }

/** A WebSocket client on a raw socket: it can send what no library would (a header declaring 8 MB, then silence). */
class RawClient {
  status = 0;
  head = "";
  readonly frames: ServerFrame[] = [];
  ended = false;
  private buf = Buffer.alloc(0);
  private upgraded = false;
  private wake: (() => void) | null = null;

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); this.wake?.(); });
    sock.on("end", () => { this.ended = true; this.wake?.(); });
    sock.on("close", () => { this.ended = true; this.wake?.(); });
    sock.on("error", () => {});
  }

  static async open(port: number, path = "/v1/stream", extraHeaders = "", secure = false): Promise<RawClient> {
    const sock = secure ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }) : net.connect(port, "127.0.0.1");
    await new Promise((r, j) => { sock.once(secure ? "secureConnect" : "connect", r); sock.once("error", j); });
    const c = new RawClient(sock);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`);
    await c.until(() => c.status !== 0 || c.ended);
    return c;
  }

  private parse() {
    if (!this.upgraded) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.buf.toString("latin1", 0, end);
      this.status = Number(/^HTTP\/1\.1 (\d+)/.exec(this.head)?.[1] ?? -1);
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
      if (this.status !== 101) return;
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const len7 = this.buf[1] & 0x7f;
      const hl = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
      if (this.buf.length < hl) return;
      const len = len7 < 126 ? len7 : len7 === 126 ? this.buf.readUInt16BE(2) : Number(this.buf.readBigUInt64BE(2));
      if (this.buf.length < hl + len) return;
      this.frames.push({ opcode: this.buf[0] & 0x0f, payload: Buffer.from(this.buf.subarray(hl, hl + len)) });
      this.buf = this.buf.subarray(hl + len);
    }
  }

  async until(pred: () => boolean, ms = 20_000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; status ${this.status}, frames ${this.frames.map((f) => f.opcode)}`);
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, 50); });
    }
  }

  async closeFrame(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.frames.some((f) => f.opcode === 8) || this.ended);
    const f = this.frames.find((x) => x.opcode === 8);
    if (!f) throw new Error("the connection ended without a close frame (1006)");
    return { code: f.payload.readUInt16BE(0), reason: f.payload.toString("utf8", 2) };
  }

  text(i: number): string {
    return this.frames.filter((f) => f.opcode === 1)[i]?.payload.toString() ?? "";
  }
}

test("FrameScanner: frames within the cap pass at any split; the first oversized header is found where it starts", () => {
  fc.assert(fc.property(
    fc.array(fc.record({ len: fc.oneof(fc.integer({ min: 0, max: 130 }), fc.integer({ min: 60_000, max: 70_000 })), op: fc.constantFrom(1, 2, 9, 10), masked: fc.boolean() }), { minLength: 1, maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 40 }),
    (frames, cuts) => {
      const parts = frames.map((f) => frame(f.op, Buffer.alloc(f.len, 7), true, f.masked));
      const stream = Buffer.concat(parts);
      const bad = frameHeader(2, 70_001);
      const all = Buffer.concat([stream, bad, Buffer.alloc(100)]);
      const s = new FrameScanner(70_000);
      let at = 0, refusedAt = -1, chunkStart = 0, peak = 0;
      for (let k = 0; at < all.length && refusedAt < 0; k++) {
        const n = Math.min(cuts[k % cuts.length], all.length - at);
        const r = s.scan(all.subarray(at, at + n));
        peak = Math.max(peak, s.heldBytes);
        if (r >= 0) { refusedAt = at + r; chunkStart = at; }
        at += n;
      }
      // every good byte passes; the cut is where the refused header starts (or at the start of the
      // chunk that completes it, when it began in an earlier one)
      assert.equal(refusedAt, Math.max(stream.length, chunkStart), `good bytes ${stream.length}`);
      assert.ok(peak <= 14, `held ${peak} bytes`);
    },
  ), { numRuns: 300 });

  // boundaries: stopAtBoundary returns the end of the frame in progress
  const s = new FrameScanner(Number.POSITIVE_INFINITY);
  const f1 = frame(2, Buffer.alloc(300), true, false), f2 = frame(1, Buffer.from("next"), true, false);
  assert.equal(s.scan(f1.subarray(0, 100)), -1);
  assert.equal(s.atBoundary, false);
  const rest = Buffer.concat([f1.subarray(100), f2]);
  assert.equal(s.scan(rest, true), f1.length - 100);
  assert.equal(s.atBoundary, true);

  // a fragmented message is capped as a whole; control frames in between do not count
  const m = new FrameScanner(1000);
  assert.equal(m.scan(Buffer.concat([frame(1, Buffer.alloc(600), false), frame(9, Buffer.alloc(10))])), -1);
  const cont = frame(0, Buffer.alloc(401), true);
  assert.equal(m.scan(cont), 0);
  // a 64-bit length with the top bit set is refused at any cap
  const top = frameHeader(2, 0);
  const huge = Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.from("8000000000000000", "hex"), Buffer.alloc(4)]);
  assert.equal(new FrameScanner(Number.MAX_SAFE_INTEGER).scan(huge), 0);
  assert.equal(new FrameScanner(10).scan(top), -1);
  assert.deepEqual([...closeFrame(1009, "frame too large").subarray(0, 4)], [0x88, 17, 0x03, 0xf1]);
});

/** A masked client frame with a real (non-zero) masking key. */
function maskedFrame(opcode: number, payload: Buffer, fin = true, key = Buffer.from([0x37, 0xfa, 0x21, 0x3d])): Buffer {
  const h = frameHeader(opcode, payload.length, fin, true);
  key.copy(h, h.length - 4);
  return Buffer.concat([h, Buffer.from(payload.map((b, i) => b ^ key[i & 3]))]);
}

test("FrameScanner: text messages must be UTF-8, checked through the mask, across fragments and reads; binary is not checked", () => {
  const scanAll = (bytes: Buffer, cuts: number[]) => {
    const s = new FrameScanner(1 << 20, true);
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const n = Math.min(cuts[k % cuts.length], bytes.length - at);
      const r = s.scan(bytes.subarray(at, at + n));
      if (r >= 0) return { at: at + r, why: s.refusal };
      at += n;
    }
    return null;
  };
  // valid text, cut into fragments anywhere (even inside a character), with pings between, read in any pieces
  fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), fc.array(fc.nat(), { maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
    (text: string, splits: number[], cuts: number[]) => {
      const bytes = Buffer.from(text, "utf8");
      const at = [...new Set(splits.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
      const pieces = [0, ...at].map((from, i) => bytes.subarray(from, i < at.length ? at[i] : bytes.length));
      const frames = pieces.flatMap((p, i) => [maskedFrame(i === 0 ? 1 : 0, p, i === pieces.length - 1), ...(i < pieces.length - 1 ? [maskedFrame(9, Buffer.from([0xff]))] : [])]);
      assert.equal(scanAll(Buffer.concat([...frames, maskedFrame(2, Buffer.from([0xff, 0xc0]))]), cuts), null);
    },
  ), { numRuns: 300 });
  const ok = maskedFrame(1, Buffer.from('{"type":"ping"}'));
  for (const [name, bad] of [
    ["a byte that is never UTF-8", [0x7b, 0xff, 0x7d]],
    ["an overlong encoding", [0xc0, 0x80]],
    ["a surrogate", [0xed, 0xa0, 0x80]],
    ["past U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["a lone continuation byte", [0x41, 0x80]],
  ] as const) {
    const f = maskedFrame(1, Buffer.from(bad));
    const r = scanAll(Buffer.concat([ok, f]), [7]);
    assert.equal(r?.why, "bad_utf8", name);
    assert.ok(r!.at > ok.length && r!.at < ok.length + f.length, `${name}: refused inside its frame, at ${r!.at}`);
  }
  // a message may not end inside a character, though a fragment may
  assert.equal(scanAll(maskedFrame(1, Buffer.from([0xe2, 0x82])), [100])?.why, "bad_utf8");
  assert.equal(scanAll(Buffer.concat([maskedFrame(1, Buffer.from([0xe2, 0x82]), false), maskedFrame(0, Buffer.from([0xac]))]), [3]), null);
  // the size cap still says why it refused
  assert.equal(scanAll(frameHeader(1, 2 << 20), [100])?.why, "too_large");
});

test("server: a text message that is not valid UTF-8 gets close 1007 from the guard", async () => {
  const c = await RawClient.open(app.port);
  await c.until(() => c.text(0).includes('"hello"'));
  c.sock.write(maskedFrame(1, Buffer.from([0x7b, 0xff, 0x7d])));
  assert.deepEqual(await c.closeFrame(), { code: 1007, reason: "text message is not valid UTF-8" });
  await c.until(() => c.ended, 10_000);
});

test("guard alone: an 8 MB frame header is answered with 1009 at a server frame boundary; the upstream never sees it", async () => {
  // a stand-in upstream: answers the upgrade, then sends a frame in two halves 300 ms apart, counting what it gets
  let received = 0, headSeen = "";
  const upstream = net.createServer((s) => {
    let head = Buffer.alloc(0), upgraded = false;
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      if (upgraded) { received += d.length; return; }
      head = Buffer.concat([head, d]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      upgraded = true;
      headSeen = head.toString("latin1", 0, end);
      received += head.length - end - 4;
      s.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n");
      const audio = frame(2, Buffer.alloc(50_000, 1), true, false);
      s.write(audio.subarray(0, 20_000));
      setTimeout(() => { s.write(audio.subarray(20_000)); s.write(frame(1, Buffer.from("after"), true, false)); }, 300);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const guard = await startFrameGuard({
    host: "127.0.0.1", port: 0, upstreamPort: (upstream.address() as net.AddressInfo).port,
    maxFrameBytes: MiB, maxHeadBytes: 16 * 1024, tls: null, secret: "s3cret",
  });
  try {
    const c = await RawClient.open(guard.port, "/v1/stream", `${PEER_HEADER}: forged 10.9.9.9\r\n`);
    assert.equal(c.status, 101);
    assert.match(headSeen, new RegExp(`^${PEER_HEADER}: s3cret 127\\.0\\.0\\.1$`, "m"));
    assert.equal(headSeen.split(PEER_HEADER).length, 2, "the client's copy of the header was stripped");
    // a small frame passes; then a header declaring 8 MB and a little of its payload
    c.sock.write(frame(1, Buffer.from("ok")));
    await sleep(50);
    c.sock.write(Buffer.concat([frameHeader(2, 8 * MiB), Buffer.alloc(1000)]));
    // the client keeps writing payload it was told to stop sending: the guard drops it
    for (let i = 0; i < 32; i++) c.sock.write(Buffer.alloc(128 * 1024));
    const close = await c.closeFrame();
    assert.deepEqual(close, { code: 1009, reason: "frame too large" });
    // the close frame came after the whole 50 kB server frame, not inside it
    const bin = c.frames.find((f) => f.opcode === 2);
    assert.equal(bin?.payload.length, 50_000);
    assert.equal(c.frames[c.frames.length - 1].opcode, 8);
    await c.until(() => c.ended, 10_000);
    assert.equal(received, frame(1, Buffer.from("ok")).length, "the upstream got the small frame and nothing of the big one");
    assert.equal(guard.stats.refusedFrames, 1);
    assert.ok(guard.stats.peakHeldBytes < 1024, `the guard held up to ${guard.stats.peakHeldBytes} bytes`);
  } finally {
    guard.close(0);
    upstream.close();
  }
});

let app: App;
before(async () => { app = await startTestServer({ limits: { maxSocketsPerAddress: 3 } }); });
after(async () => { await app.close(); });

const metric = async (port: number, name: string) => {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(body)?.[1] ?? NaN);
};

test("server: a frame header declaring 8 MB gets a close frame 1009 at once (only 1 kB of payload sent), counted in metrics", async () => {
  const before = await metric(app.port, "soundstorm_frames_refused_total");
  const c = await RawClient.open(app.port);
  assert.equal(c.status, 101);
  await c.until(() => c.text(0).includes('"hello"'));
  c.sock.write(Buffer.concat([frameHeader(1, 8 * MiB), Buffer.alloc(1024, 0x20)]));
  // the client sends nothing more and waits: the answer does not depend on the rest of the frame
  assert.deepEqual(await c.closeFrame(), { code: 1009, reason: "frame too large" });
  await c.until(() => c.ended, 10_000);
  assert.equal(await metric(app.port, "soundstorm_frames_refused_total"), before + 1);
  for (let i = 0; i < 50 && (await metric(app.port, "soundstorm_active_sockets")) !== 0; i++) await sleep(50);
  assert.equal(await metric(app.port, "soundstorm_active_sockets"), 0, "the uWS socket behind it is closed");
});

test("server: a fragmented message over the cap is refused with 1009 at the frame that crosses it", async () => {
  const c = await RawClient.open(app.port);
  await c.until(() => c.text(0).includes('"hello"'));
  c.sock.write(frame(1, Buffer.alloc(600 * 1024, 0x20), false));
  c.sock.write(frameHeader(0, 600 * 1024, true));
  assert.equal((await c.closeFrame()).code, 1009);
});

test("server: messages between the message limit (64 KiB) and the frame cap (1 MiB) still get message_too_large + 1009", async () => {
  for (const size of [200 * 1024, MiB]) {
    const c = await TestClient.connect(app.port);
    c.sendRaw(JSON.stringify({ type: "append_text", context_id: "a", text: "x".repeat(size - 60) }).padEnd(size, " "));
    assert.equal((await c.nextEvent("error")).code, "message_too_large");
    assert.equal(await c.closed(), 1009);
  }
  // one byte over the cap: refused by the guard from the header (no error event: nothing was read)
  const c = await TestClient.connect(app.port);
  c.sendRaw(Buffer.alloc(MiB + 1, 0x20));
  assert.equal(await c.closed(), 1009);
  assert.ok(!c.events.some((e) => e.type === "error"));
});

test("server: a normal session streams audio through the guard", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "n", format: "pcm_s16le" });
  c.send({ type: "append_text", context_id: "n", text: "Hello through the guard." });
  c.send({ type: "end", context_id: "n" });
  const done = await c.nextEvent("context_done", "n", 60_000);
  assert.ok(done.summary.audio_samples > 0 && c.frames.length > 0);
  c.close();
  assert.equal(await c.closed(), 1005);
});

test("server: a client-supplied peer header is ignored; per-address limits count the real address", async () => {
  const forged = (i: number) => `${PEER_HEADER}: 0123456789abcdef0123456789abcdef 10.0.0.${i}\r\n`;
  const open: RawClient[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.open(app.port, "/v1/stream", forged(i));
    assert.equal(c.status, 101);
    open.push(c);
  }
  const fourth = await RawClient.open(app.port, "/v1/stream", forged(9));
  assert.equal(fourth.status, 429, fourth.head);
  await fourth.until(() => fourth.ended, 5000);
  for (const c of open) c.sock.destroy();
});

/** One raw HTTP exchange; returns everything the server sent before closing. */
function rawHttp(port: number, data: string | Buffer, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(data));
    let out = "";
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no close within ${ms} ms; got ${JSON.stringify(out.slice(0, 300))}`)); }, ms);
    s.on("data", (d) => { out += d.toString("latin1"); });
    s.on("close", () => { clearTimeout(t); resolve(out); });
    s.on("error", () => {});
  });
}

test("HTTP through the guard: one request per connection (keep-alive and pipelining end after the first answer), chunked bodies, bad framing refused", async () => {
  const two = await rawHttp(app.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.equal(two.match(/HTTP\/1\.1 /g)?.length, 1, two);
  assert.match(two, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(two, /\r\nConnection: close\r\n/i);
  assert.ok(two.endsWith("\r\n\r\nok\n"));

  // HTTP clients reuse nothing and still work, request after request
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status, 200);
  assert.match(await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text(), /soundstorm_frames_refused_total/);

  // a chunked POST /v1/audio/speech: the body reaches uWS, the chunked audio answer reaches us whole
  const body = JSON.stringify({ model: "x", input: "Chunked.", voice: "slt", response_format: "pcm" });
  const chunked = `${body.slice(0, 10).length.toString(16)}\r\n${body.slice(0, 10)}\r\n${body.slice(10).length.toString(16)}\r\n${body.slice(10)}\r\n0\r\n\r\n`;
  const speech = await rawHttp(app.port, `POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`, 60_000);
  assert.match(speech, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(speech, /\r\n0\r\n\r\n$/, "the chunked answer ends with its last chunk");
  assert.ok(speech.length > 2000);

  // Content-Length and Transfer-Encoding together (a smuggling vector), a bad head, a head too large
  const smuggle = await rawHttp(app.port, "POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  assert.match(smuggle, /^HTTP\/1\.1 400 /);
  assert.match(await rawHttp(app.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n bad: fold\r\n\r\n"), /^HTTP\/1\.1 400 /);
  assert.match(await rawHttp(app.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  // a half-closed client still gets its answer
  const half = await new Promise<string>((resolve) => {
    const s = net.connect(app.port, "127.0.0.1", () => s.end("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    let out = "";
    s.on("data", (d) => { out += d; });
    s.on("close", () => resolve(out));
  });
  assert.match(half, /^HTTP\/1\.1 200 OK[\s\S]*ok\n$/);
});

test("guard off: uWS serves the public port itself (an oversized frame then drops the connection: 1006)", async () => {
  const off = await startTestServer({ frameGuard: { enabled: false } });
  try {
    const c = await TestClient.connect(off.port);
    c.sendRaw(Buffer.alloc(2 * MiB, 0x20));
    assert.equal(await c.closed(), 1006);
    assert.equal((await fetch(`http://127.0.0.1:${off.port}/healthz`)).status, 200);
  } finally {
    await off.close();
  }
});

test("config: the guard is on by default; SOUNDSTORM_FRAME_GUARD=0 turns it off", () => {
  assert.equal(buildConfig().frameGuard.enabled, true);
  assert.equal(buildConfig(fromEnv({ SOUNDSTORM_FRAME_GUARD: "0" })).frameGuard.enabled, false);
  assert.equal(buildConfig(fromEnv({ SOUNDSTORM_FRAME_GUARD: "1" })).frameGuard.enabled, true);
  assert.throws(() => fromEnv({ SOUNDSTORM_FRAME_GUARD: "maybe" }), /SOUNDSTORM_FRAME_GUARD/);
  assert.throws(() => buildConfig({ frameGuard: { maxHeadBytes: 10 } }), /maxHeadBytes/);
});

const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;

test("TLS terminated in the guard: wss session, https route, and 1009 for an 8 MB header", { skip: haveOpenssl ? false : "openssl not installed" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-guard-tls-"));
  const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]);
  assert.equal(r.status, 0, String(r.stderr));
  const secure = await startTestServer({ tls: { certFile: cert, keyFile: key } });
  try {
    const c = await RawClient.open(secure.port, "/v1/stream", "", true);
    assert.equal(c.status, 101);
    await c.until(() => c.text(0).includes('"hello"'));
    c.sock.write(Buffer.concat([frameHeader(2, 8 * MiB), Buffer.alloc(512)]));
    assert.equal((await c.closeFrame()).code, 1009);
    // plain TCP to the TLS port is not served
    const plain = await rawHttp(secure.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").catch(() => "");
    assert.ok(!plain.includes("200 OK"));
  } finally {
    await secure.close();
  }
});
