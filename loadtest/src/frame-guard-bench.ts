/**
 * Cost of the frame guard (src/server/frame-guard.ts), guard on against guard off, on the fixture model:
 *  - HTTP: GET /healthz latency, sequential (through the guard each request is a new connection);
 *  - WebSocket round trip: a small message answered at once (an unknown_context error), sequential;
 *  - client -> server throughput: 60 KB text messages (under the message limit), answered with errors;
 *  - server -> client throughput of the guard alone: a stand-in upstream writing 16 KB binary frames.
 *   node dist/loadtest/src/frame-guard-bench.js [--rounds N] [--json OUT]
 */
import { writeFileSync } from "node:fs";
import net from "node:net";
import { benchArgs, checked, numberFlag, stringFlag } from "./args.js";
import WebSocket from "ws";
import { createApp } from "../../src/app.js";
import { startFrameGuard } from "../../src/server/frame-guard.js";

const USAGE = "usage: node dist/loadtest/src/frame-guard-bench.js [--rounds N] [--json OUT]";
const values = benchArgs(USAGE, { rounds: { type: "string" }, json: { type: "string" } });
const rounds = checked(USAGE, () => numberFlag(values, "rounds", 2, { min: 1, integer: true }));
const json = stringFlag(values, "json");

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 1000) / 1000;
};

async function measureApp(guard: boolean) {
  const app = await createApp({ host: "127.0.0.1", port: 0, frameGuard: { enabled: guard } });
  try {
    const base = `http://127.0.0.1:${app.port}`;
    for (let i = 0; i < 50; i++) await (await fetch(`${base}/healthz`)).text();
    const http: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await (await fetch(`${base}/healthz`)).text();
      http.push(performance.now() - t0);
    }

    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/v1/stream`);
    let onMsg: (() => void) | null = null;
    ws.on("message", () => onMsg?.());
    await new Promise((r) => ws.once("message", r));
    const rtt: number[] = [];
    const flush = JSON.stringify({ type: "flush", context_id: "nope" });
    for (let i = 0; i < 2000 + 100; i++) {
      const t0 = performance.now();
      await new Promise<void>((r) => { onMsg = r; ws.send(flush); });
      if (i >= 100) rtt.push(performance.now() - t0);
    }
    // client -> server: 60 KB messages (invalid JSON: answered with an error each)
    const big = "x".repeat(60_000);
    const n = 2000;
    let answered = 0;
    const t0 = performance.now();
    await new Promise<void>((r) => {
      onMsg = () => { if (++answered === n) r(); };
      for (let i = 0; i < n; i++) ws.send(big);
    });
    const upMBs = (n * 60_000) / 1e6 / ((performance.now() - t0) / 1000);
    ws.close();
    return {
      http_ms: { p50: pct(http, 50), p99: pct(http, 99) },
      ws_rtt_ms: { p50: pct(rtt, 50), p99: pct(rtt, 99) },
      client_to_server_MB_s: Math.round(upMBs),
    };
  } finally {
    await app.close();
  }
}

/** Server -> client through the guard alone (the audio direction), against the same upstream straight. */
async function measureDownstream(guard: boolean) {
  const total = 400 * 1024 * 1024;
  const frame = Buffer.alloc(16 * 1024 + 4);
  frame[0] = 0x82; frame[1] = 126; frame.writeUInt16BE(16 * 1024, 2);
  const upstream = net.createServer((s) => {
    s.once("data", () => {
      s.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += 16 * 1024;
          if (!s.write(frame)) { s.once("drain", pump); return; }
        }
        s.end();
      };
      pump();
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upPort = (upstream.address() as net.AddressInfo).port;
  const g = guard ? await startFrameGuard({ host: "127.0.0.1", port: 0, upstreamPort: upPort, maxFrameBytes: 1 << 20, maxHeadBytes: 16384, tls: null, secret: "x" }) : null;
  const c = net.connect(g ? g.port : upPort, "127.0.0.1");
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  c.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n");
  let got = 0;
  c.on("data", (d: Buffer) => { got += d.length; });
  await new Promise((r) => c.on("close", r));
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  g?.close(0);
  upstream.close();
  return { MB_s: Math.round(got / 1e6 / s), cpu_ms_per_MB: Math.round(((cpu.user + cpu.system) / 1000 / (got / 1e6)) * 100) / 100 };
}

const results: Record<string, unknown[]> = { off: [], on: [], down_off: [], down_on: [] };
for (let r = 0; r < rounds; r++) {
  for (const guard of [false, true]) {
    const m = await measureApp(guard);
    results[guard ? "on" : "off"].push(m);
    process.stderr.write(`round ${r + 1} guard ${guard ? "on " : "off"}: ${JSON.stringify(m)}\n`);
    const d = await measureDownstream(guard);
    results[guard ? "down_on" : "down_off"].push(d);
    process.stderr.write(`round ${r + 1} guard ${guard ? "on " : "off"} server->client alone: ${JSON.stringify(d)}\n`);
  }
}
if (json) writeFileSync(json, JSON.stringify(results, null, 2) + "\n");
console.log(JSON.stringify(results));
