/**
 * Pages elsewhere cannot drive the server through a visitor's browser (site-check.ts): cross-site
 * WebSocket hijacking and form posts are refused by Origin, DNS rebinding by Host, and bodies a page
 * may send without a CORS preflight by Content-Type. Clients that are not browsers (no Origin, the
 * SDK, the CLI, tests) are served as before.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import WebSocket from "ws";
import type { App } from "../src/app.js";
import { buildConfig, fromEnv } from "../src/config.js";
import { sha256Hex } from "../src/server/auth.js";
import { contentTypeRefusal, siteRefusal, type SitePolicy } from "../src/server/site-check.js";
import { startTestServer, TestClient } from "./helpers.js";

const NO_KEYS: SitePolicy = { keysConfigured: false, allowedOrigins: [], allowedHosts: [] };
const site = (host: string, origin = "", fetchSite = "") => ({ host, origin, fetchSite });

test("siteRefusal: same origin or listed; without keys, a Host no attacker's DNS can answer for", () => {
  const ok = (h: ReturnType<typeof site>, p = NO_KEYS) => assert.equal(siteRefusal(h, p), null, JSON.stringify(h));
  const no = (h: ReturnType<typeof site>, p = NO_KEYS) => assert.notEqual(siteRefusal(h, p), null, JSON.stringify(h));
  // not a browser: as before
  ok(site("127.0.0.1:8080"));
  ok(site("localhost:8080"));
  ok(site("[::1]:8080"));
  ok(site("x"));
  ok(site(""));
  // the server's own pages (the demo)
  ok(site("127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin"));
  ok(site("localhost:8080", "http://localhost:8080"));
  ok(site("localhost", "http://localhost"));
  ok(site("app.localhost:3000", "http://app.localhost:3000"));
  ok(site("10.0.0.5:8080", "http://10.0.0.5:8080"));
  // cross-site: another site, another port, a sandboxed frame
  no(site("127.0.0.1:8080", "https://evil.example"));
  no(site("127.0.0.1:8080", "http://127.0.0.1:3000"));
  no(site("localhost:8080", "http://localhost"));
  no(site("127.0.0.1:8080", "null"));
  no(site("127.0.0.1:8080", "https://127.0.0.1:8080x"));
  // DNS rebinding: the page's origin matches its Host, which is the attacker's name
  no(site("rebind.attacker.example:8080", "http://rebind.attacker.example:8080"));
  no(site("rebind.attacker.example:8080", "", "same-origin"));
  no(site("rebind.attacker.example:8080"));
  no(site("x", "", "same-origin"));
  // configured
  const listed: SitePolicy = { keysConfigured: false, allowedOrigins: ["https://app.example"], allowedHosts: ["tts.internal"] };
  ok(site("127.0.0.1:8080", "https://app.example"), listed);
  no(site("127.0.0.1:8080", "https://app.example:444"), listed);
  ok(site("tts.internal:8080", "http://tts.internal:8080"), listed);
  no(site("other.internal:8080", "http://other.internal:8080"), listed);
  ok(site("anything.example", "https://anywhere.example"), { keysConfigured: false, allowedOrigins: ["*"], allowedHosts: ["*"] });
  // with keys a page must hold a key or token: any origin and host, unless origins are listed
  const keyed: SitePolicy = { keysConfigured: true, allowedOrigins: [], allowedHosts: [] };
  ok(site("tts.example.com", "https://app.example.com"), keyed);
  ok(site("tts.example.com"), keyed);
  const keyedListed: SitePolicy = { ...keyed, allowedOrigins: ["https://app.example.com"] };
  ok(site("tts.example.com", "https://app.example.com"), keyedListed);
  ok(site("tts.example.com", "https://tts.example.com"), keyedListed);
  no(site("tts.example.com", "https://evil.example"), keyedListed);
});

test("contentTypeRefusal: speech takes application/json; uploads take what a page cannot post without a preflight", () => {
  const none = site("127.0.0.1:1");
  const browser = site("127.0.0.1:1", "http://127.0.0.1:1");
  assert.equal(contentTypeRefusal("speech", "application/json", none, false), null);
  assert.equal(contentTypeRefusal("speech", "Application/JSON; charset=utf-8", none, false), null);
  for (const t of ["", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
    assert.notEqual(contentTypeRefusal("speech", t, none, true), null, t);
  }
  for (const t of ["audio/wav", "audio/x-wav", "application/octet-stream"]) assert.equal(contentTypeRefusal("voice_upload", t, browser, false), null, t);
  for (const t of ["", "text/plain", "application/x-www-form-urlencoded; charset=utf-8"]) assert.notEqual(contentTypeRefusal("voice_upload", t, none, true), null, t);
  // multipart: the documented form upload, for tools and keyed clients; not from a browser page without keys
  assert.equal(contentTypeRefusal("voice_upload", "multipart/form-data; boundary=x", none, false), null);
  assert.equal(contentTypeRefusal("voice_upload", "multipart/form-data; boundary=x", browser, true), null);
  assert.notEqual(contentTypeRefusal("voice_upload", "multipart/form-data; boundary=x", browser, false), null);
  assert.notEqual(contentTypeRefusal("voice_upload", "multipart/form-data; boundary=x", site("127.0.0.1:1", "", "cross-site"), false), null);
});

test("config: allowedOrigins and allowedHosts are checked and read from the environment", () => {
  assert.deepEqual(buildConfig(fromEnv({ SOUNDSTORM_ALLOWED_ORIGINS: "https://a.example, http://b.example:8080/", SOUNDSTORM_ALLOWED_HOSTS: "tts.internal" })).auth,
    { ...buildConfig().auth, allowedOrigins: ["https://a.example", "http://b.example:8080/"], allowedHosts: ["tts.internal"] });
  assert.throws(() => buildConfig({ auth: { allowedOrigins: ["https://a.example/path"] } }), /allowedOrigins/);
  assert.throws(() => buildConfig({ auth: { allowedOrigins: ["a.example"] } }), /allowedOrigins/);
  assert.throws(() => buildConfig({ auth: { allowedHosts: ["tts.internal:8080"] } }), /allowedHosts/);
  assert.throws(() => buildConfig({ voices: { maxConcurrentUploads: 0 } }), /maxConcurrentUploads/);
  assert.deepEqual(buildConfig().auth.allowedOrigins, []);
  assert.equal(buildConfig().voices.maxConcurrentUploads, 2);
});

/** The status line's code of one raw HTTP exchange (any Host and headers, which fetch and ws would set themselves). */
function rawStatus(port: number, head: string, body = ""): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(head + body));
    let out = "";
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer: ${JSON.stringify(out)}`)); }, 10_000);
    s.on("data", (d) => {
      out += d.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(out);
      if (m) { clearTimeout(t); s.destroy(); resolve(Number(m[1])); }
    });
    s.on("error", () => {});
  });
}

const upgradeHead = (path: string, headers: Record<string, string>) =>
  `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
const getHead = (path: string, headers: Record<string, string>) =>
  `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;

let app: App;
before(async () => { app = await startTestServer({ auth: { allowedOrigins: ["https://app.example"] } }); });
after(async () => { await app.close(); });

test("without keys: a page elsewhere cannot open a socket (403), the server's own page can, and clients that are not browsers as before", async () => {
  const self = `127.0.0.1:${app.port}`;
  const up = (headers: Record<string, string>, path = "/v1/stream") => rawStatus(app.port, upgradeHead(path, headers));
  assert.equal(await up({ Host: self, Origin: "https://evil.example" }), 403);
  assert.equal(await up({ Host: self, Origin: "null" }), 403);
  assert.equal(await up({ Host: self, Origin: "https://evil.example" }, "/v1/text-to-speech/slt/stream-input?output_format=pcm_16000"), 403);
  assert.equal(await up({ Host: self, Origin: `http://${self}` }), 101);
  assert.equal(await up({ Host: self, Origin: "https://app.example" }), 101, "listed in auth.allowedOrigins");
  assert.equal(await up({ Host: self }), 101);
  // DNS rebinding: the attacker's name, resolved to 127.0.0.1
  const rebound = `rebind.attacker.example:${app.port}`;
  assert.equal(await up({ Host: rebound, Origin: `http://${rebound}` }), 403);
  assert.equal(await rawStatus(app.port, getHead("/v1/voices", { Host: rebound, "Sec-Fetch-Site": "same-origin" })), 403);
  assert.equal(await rawStatus(app.port, getHead("/v1/voices", { Host: rebound })), 403);
  assert.equal(await rawStatus(app.port, getHead("/v1/voices", { Host: `localhost:${app.port}`, "Sec-Fetch-Site": "same-origin" })), 200);
  // the demo page itself is served to anyone (its socket is checked)
  assert.equal(await rawStatus(app.port, getHead("/", { Host: rebound })), 200);

  // the clients of this repository and the ws library: no Origin
  const c = await TestClient.connect(app.port);
  c.close();
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/v1/stream`, { headers: { Origin: "https://evil.example" } });
  const status = await new Promise<number>((res) => {
    ws.on("unexpected-response", (_q, r) => res(r.statusCode ?? 0));
    ws.on("open", () => res(101));
    ws.on("error", () => {});
  });
  ws.terminate();
  assert.equal(status, 403);
});

test("without keys: cross-site posts are refused before anything is done, as JSON forbidden", async () => {
  const url = `http://127.0.0.1:${app.port}`;
  const body = JSON.stringify({ model: "m", input: "Hello.", voice: "slt", response_format: "pcm" });
  const speech = await fetch(`${url}/v1/audio/speech`, { method: "POST", headers: { "content-type": "text/plain", origin: "https://evil.example" }, body });
  assert.equal(speech.status, 403);
  assert.equal(((await speech.json()) as { error: { code: string } }).error.code, "forbidden");
  const fd = new FormData();
  fd.append("name", "planted");
  fd.append("file", new Blob([new Uint8Array(1000)], { type: "audio/wav" }), "x.wav");
  const upload = await fetch(`${url}/v1/voices`, { method: "POST", body: fd, headers: { origin: "https://evil.example" } });
  assert.equal(upload.status, 403);
  const del = await fetch(`${url}/v1/voices/slt`, { method: "DELETE", headers: { origin: "https://evil.example" } });
  assert.equal(del.status, 403);
  const token = await fetch(`${url}/v1/tokens`, { method: "POST", headers: { origin: "https://evil.example" } });
  assert.equal(token.status, 403);
  // the same from the server's own origin goes on to the route
  const own = await fetch(`${url}/v1/audio/speech`, { method: "POST", headers: { "content-type": "application/json", origin: url }, body });
  assert.equal(own.status, 200);
  await own.arrayBuffer();
});

test("with keys: any page holding a key may connect, unless auth.allowedOrigins lists the pages", async () => {
  const KEY = "site-check-key";
  const keys = [{ id: "s", sha256: sha256Hex(KEY), maxContexts: 2, charsPerMinute: 10_000, maxSockets: 4 }];
  const open = await startTestServer({ auth: { keys } });
  const listed = await startTestServer({ auth: { keys, allowedOrigins: ["https://app.example"] } });
  try {
    const up = (port: number, origin: string) => rawStatus(port, upgradeHead("/v1/stream", { Host: `tts.example.com:${port}`, Origin: origin, "X-Api-Key": KEY }));
    assert.equal(await up(open.port, "https://app.example"), 101);
    assert.equal(await up(open.port, "https://elsewhere.example"), 101);
    assert.equal(await up(listed.port, "https://app.example"), 101);
    assert.equal(await up(listed.port, `http://tts.example.com:${listed.port}`), 101);
    assert.equal(await up(listed.port, "https://elsewhere.example"), 403);
  } finally {
    await open.close();
    await listed.close();
  }
});
