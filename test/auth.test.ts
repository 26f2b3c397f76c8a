/** API keys, tokens, loopback-only default, per-key limits and TLS. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import https from "node:https";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import type { App } from "../src/app.js";
import { Authenticator, sha256Hex, SUBPROTOCOL } from "../src/server/auth.js";
import { startTestServer, TestClient } from "./helpers.js";

const KEY = "test-key-alpha";
const KEY_B = "test-key-beta";
const KEY_C = "test-key-gamma";
const KEYS = [{ id: "alpha", sha256: sha256Hex(KEY), maxContexts: 1, charsPerMinute: 120, maxSockets: 2 },
  { id: "beta", sha256: sha256Hex(KEY_B), maxContexts: 2, charsPerMinute: 40, maxSockets: 2 },
  { id: "gamma", sha256: sha256Hex(KEY_C), maxContexts: 1, charsPerMinute: 100, maxSockets: 2 }];

test("authenticator: loopback only without keys; key, subprotocol and token with keys", () => {
  const none = new Authenticator([], 60);
  const base = { authorization: "", apiKey: "", protocols: "", query: "" };
  assert.equal(none.authenticate({ ...base, remoteAddress: "127.0.0.1" }).ok, true);
  assert.equal(none.authenticate({ ...base, remoteAddress: "0000:0000:0000:0000:0000:0000:0000:0001" }).ok, true);
  for (const a of ["10.1.2.3", "192.168.0.5", "0000:0000:0000:0000:0000:ffff:c0a8:0005", "2001:0db8:0000:0000:0000:0000:0000:0001"]) {
    const r = none.authenticate({ ...base, remoteAddress: a });
    assert.equal(r.ok, false, a);
    if (!r.ok) assert.equal(r.status, "403 Forbidden");
  }
  const auth = new Authenticator(KEYS, 60, "s3cret");
  const at = (c: Partial<typeof base>) => auth.authenticate({ ...base, remoteAddress: "10.0.0.9", ...c });
  assert.equal(at({}).ok, false);
  assert.equal(at({ authorization: `Bearer ${KEY}` }).ok, true);
  assert.equal(at({ apiKey: KEY }).ok, true);
  const wrong = at({ apiKey: "nope" });
  assert.ok(!wrong.ok && wrong.status === "401 Unauthorized");
  const viaProto = at({ protocols: `${SUBPROTOCOL}, key.${KEY}` });
  assert.ok(viaProto.ok && viaProto.protocol === SUBPROTOCOL && viaProto.principal.id === "alpha");
  const p = viaProto.ok ? viaProto.principal : null;
  const { token, expires_at } = auth.mintToken(p!, 1000);
  assert.equal(expires_at, 1060);
  assert.equal(auth.verifyToken(token, 1059), "alpha");
  assert.equal(auth.verifyToken(token, 1060), null, "expired");
  assert.equal(auth.verifyToken(token.slice(0, -2) + "xx", 1000), null, "tampered");
  assert.equal(new Authenticator(KEYS, 60, "other").verifyToken(token, 1000), null, "other secret");
});

let app: App;
before(async () => { app = await startTestServer({ auth: { keys: KEYS } }); });
after(async () => { await app.close(); });

function upgradeStatus(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.on("unexpected-response", (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.on("open", () => { resolve(101); ws.close(); });
    ws.on("error", () => {});
  });
}

test("with keys configured: refused without a key (401), accepted with one, per-key limits enforced", async () => {
  const url = `ws://127.0.0.1:${app.port}/v1/stream`;
  assert.equal(await upgradeStatus(url), 401);
  assert.equal(await upgradeStatus(url, { headers: { authorization: "Bearer wrong" } }), 401);
  assert.equal(await upgradeStatus(url, { headers: { "x-api-key": KEY } }), 101);
  assert.equal(await upgradeStatus(url, {}, [SUBPROTOCOL, `key.${KEY}`]), 101);

  const tok = await fetch(`http://127.0.0.1:${app.port}/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(tok.status, 200);
  const { token } = (await tok.json()) as { token: string };
  assert.equal(await upgradeStatus(`${url}?token=${encodeURIComponent(token)}`), 101);
  assert.equal(await upgradeStatus(`${url}?token=bogus.1.x`), 401);
  const noKey = await fetch(`http://127.0.0.1:${app.port}/v1/tokens`, { method: "POST" });
  assert.equal(noKey.status, 401);
  assert.equal(((await noKey.json()) as { error: { code: string } }).error.code, "unauthorized");

  // two sockets allowed, the third is refused with 429
  const a = new WebSocket(url, { headers: { authorization: `Bearer ${KEY}` } });
  const b = new WebSocket(url, { headers: { authorization: `Bearer ${KEY}` } });
  await Promise.all([a, b].map((w) => new Promise((r) => w.once("open", r))));
  assert.equal(await upgradeStatus(url, { headers: { authorization: `Bearer ${KEY}` } }), 429);
  a.close();
  b.close();
});

test("POST /v1/audio/speech takes a ?token= like every /v1/ route; a key over its budget gets 429 with when to retry", async () => {
  const base = `http://127.0.0.1:${app.port}`;
  const tok = await fetch(`${base}/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${KEY_B}` } });
  const { token } = (await tok.json()) as { token: string };
  const speech = (input: string, query = `?token=${encodeURIComponent(token)}`) => fetch(`${base}/v1/audio/speech${query}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "soundstorm", input, voice: "slt", response_format: "pcm" }),
  });
  assert.equal((await speech("Hi there.", "")).status, 401);
  const ok = await speech("Hi there.");
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
  const limited = await speech("This one is far longer than the budget.");
  assert.equal(limited.status, 429);
  const body = (await limited.json()) as { error: { code: string; retry_after_ms: number } };
  assert.equal(body.error.code, "rate_limited");
  assert.ok(body.error.retry_after_ms > 0);
  assert.equal(limited.headers.get("retry-after"), String(Math.max(1, Math.ceil(body.error.retry_after_ms / 1000))));
});

test("a key over its limits gets typed errors", async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/v1/stream`, { headers: { authorization: `Bearer ${KEY}` } });
  const events: { type: string; code?: string; retry_after_ms?: number; context_id?: string }[] = [];
  ws.on("message", (d, bin) => { if (!bin) events.push(JSON.parse(String(d))); });
  await new Promise((r) => ws.once("open", r));
  const waitFor = async (pred: (e: (typeof events)[number]) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const e = events.find(pred);
      if (e) return e;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no such event in ${JSON.stringify(events)}`);
  };
  ws.send(JSON.stringify({ type: "create_context", context_id: "one" }));
  await waitFor((e) => e.type === "context_created");
  ws.send(JSON.stringify({ type: "create_context", context_id: "two" }));
  assert.equal((await waitFor((e) => e.type === "error" && e.context_id === "two")).code, "key_context_limit");
  ws.send(JSON.stringify({ type: "append_text", context_id: "one", text: "x".repeat(100) }));
  ws.send(JSON.stringify({ type: "append_text", context_id: "one", text: "y".repeat(100) }));
  const rl = await waitFor((e) => e.code === "rate_limited");
  assert.ok(rl.retry_after_ms! > 0);
  ws.close();
});

test("POST /v1/audio/speech charges the key's budget only once admitted: refusals for the context limit spend nothing", async () => {
  const base = `http://127.0.0.1:${app.port}`;
  const headers = { authorization: `Bearer ${KEY_C}`, "content-type": "application/json" };
  // gamma may hold one context: an idle one on a socket takes it
  const tok = await fetch(`${base}/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${KEY_C}` } });
  const { token } = (await tok.json()) as { token: string };
  const c = await TestClient.connect(app.port, `/v1/stream?token=${encodeURIComponent(token)}`);
  c.send({ type: "create_context", context_id: "hold" });
  await c.nextEvent("context_created", "hold");
  // 60 characters of gamma's 100 a minute, asked three times while the context is held
  const input = "A sentence of sixty characters, give or take a few letters.".padEnd(60, ".");
  const speech = () => fetch(`${base}/v1/audio/speech`, { method: "POST", headers, body: JSON.stringify({ model: "m", input, voice: "slt", response_format: "pcm" }) });
  for (let i = 0; i < 3; i++) {
    const r = await speech();
    assert.equal(r.status, 429);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "key_context_limit", `attempt ${i}`);
  }
  c.send({ type: "cancel", context_id: "hold" });
  await c.nextEvent("context_done", "hold");
  c.close();
  // the budget is whole: this one is served
  const ok = await speech();
  assert.equal(ok.status, 200, await ok.clone().text());
  await ok.arrayBuffer();
});

test("refused keys on the HTTP routes are counted in soundstorm_errors_total, as on sockets", async () => {
  const base = `http://127.0.0.1:${app.port}`;
  const unauthorized = async () => {
    const m = await (await fetch(`${base}/metrics`)).text();
    return Number(/^soundstorm_errors_total\{code="unauthorized"\} (\d+)/m.exec(m)?.[1] ?? 0);
  };
  const before = await unauthorized();
  const r = await fetch(`${base}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer nope" },
    body: JSON.stringify({ model: "m", input: "Hi.", voice: "slt" }) });
  assert.equal(r.status, 401);
  assert.equal((await fetch(`${base}/v1/voices`)).status, 401);
  assert.equal(await unauthorized(), before + 2);
});

import { createRequire } from "node:module";
const wsPath = createRequire(import.meta.url).resolve("ws");
const canNetns = process.getuid?.() === 0 && spawnSync("ip", ["netns", "list"]).status === 0;

test("without keys, a peer that is not on loopback is refused (403) — client in a network namespace", { skip: canNetns ? false : "needs root and iproute2 (ip netns)" }, async () => {
  const open = await startTestServer({ host: "0.0.0.0" });
  const ns = `ss${process.pid}`;
  const sh = (...args: string[]) => {
    const r = spawnSync(args[0], args.slice(1), { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const octet = 1 + (process.pid % 250);
  const hostIp = `10.254.${octet}.1`, nsIp = `10.254.${octet}.2`;
  try {
    sh("ip", "netns", "add", ns);
    sh("ip", "link", "add", `${ns}a`, "type", "veth", "peer", "name", `${ns}b`);
    sh("ip", "link", "set", `${ns}b`, "netns", ns);
    sh("ip", "addr", "add", `${hostIp}/30`, "dev", `${ns}a`);
    sh("ip", "link", "set", `${ns}a`, "up");
    sh("ip", "netns", "exec", ns, "ip", "addr", "add", `${nsIp}/30`, "dev", `${ns}b`);
    sh("ip", "netns", "exec", ns, "ip", "link", "set", `${ns}b`, "up");
    const client = `const W=require(${JSON.stringify(wsPath)});const w=new W("ws://${hostIp}:${open.port}/v1/stream");` +
      `const http=()=>fetch("http://${hostIp}:${open.port}/v1/voices").then(r=>r.json().then(j=>{console.log(r.status+" "+j.error.code);process.exit(0)}));` +
      `w.on("unexpected-response",(q,r)=>{console.log(r.statusCode);http()});w.on("open",()=>{console.log(101);process.exit(0)});w.on("error",e=>{console.log("error "+e.message);process.exit(0)});`;
    // async: the server runs in this process, so the client must not block its event loop
    const r = await promisify(execFile)("ip", ["netns", "exec", ns, process.execPath, "-e", client], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.stdout.trim(), "403\n403 forbidden", `client said ${JSON.stringify(r.stdout)} / ${JSON.stringify(r.stderr)}`);
    // and the same server still accepts loopback
    const c = await TestClient.connect(open.port);
    c.close();
  } finally {
    spawnSync("ip", ["link", "del", `${ns}a`]);
    spawnSync("ip", ["netns", "del", ns]);
    await open.close();
  }
});

const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;

test("TLS: wss:// with a configured certificate", { skip: haveOpenssl ? false : "openssl not installed" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-tls-"));
  const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]);
  assert.equal(r.status, 0, String(r.stderr));
  writeFileSync(join(dir, "ok"), "");
  const tls = await startTestServer({ tls: { certFile: cert, keyFile: key } });
  try {
    const ws = new WebSocket(`wss://127.0.0.1:${tls.port}/v1/stream`, { rejectUnauthorized: false });
    const hello = await new Promise<{ type: string }>((res, rej) => { ws.once("message", (d) => res(JSON.parse(String(d)))); ws.once("error", rej); });
    assert.equal(hello.type, "hello");
    ws.close();
    const body = await new Promise<string>((res, rej) => {
      https.get(`https://127.0.0.1:${tls.port}/healthz`, { rejectUnauthorized: false }, (r) => {
        let b = "";
        r.on("data", (d) => { b += d; });
        r.on("end", () => res(b));
      }).on("error", rej);
    });
    assert.equal(body.trim(), "ok");
  } finally {
    await tls.close();
  }
});
