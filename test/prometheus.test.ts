/** A real Prometheus (Debian `prometheus`) scrapes a test server. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../src/app.js";
import { sleep, startTestServer, TestClient } from "./helpers.js";

const haveProm = spawnSync("prometheus", ["--version"]).status === 0;
let app: App;
let prom: ChildProcess | null = null;
let promPort = 0;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on("error", rej);
  });
}

before(async () => {
  app = await startTestServer();
  if (!haveProm) return;
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-prom-"));
  // the committed scrape config, pointed at the test server and scraping fast
  const cfg = readFileSync("grafana/prometheus.yml", "utf8")
    .replace(/localhost:8080/, `127.0.0.1:${app.port}`)
    .replace(/scrape_interval: \S+/, "scrape_interval: 1s");
  writeFileSync(join(dir, "prometheus.yml"), cfg);
  promPort = await freePort();
  prom = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${promPort}`], { stdio: "ignore" });
});

after(async () => {
  prom?.kill("SIGTERM");
  await app.close();
});

async function query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
  const j = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return j.status === "success" ? j.data.result : [];
}

test("Prometheus scrapes the server and sees its metrics", { skip: haveProm ? false : "prometheus not installed (apt-get install prometheus)" }, async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "p" });
  c.send({ type: "append_text", context_id: "p", text: "Scrape me." });
  c.send({ type: "end", context_id: "p" });
  const done = await c.nextEvent("context_done", "p", 30_000);
  let up: Awaited<ReturnType<typeof query>> = [];
  let audio: Awaited<ReturnType<typeof query>> = [];
  for (let i = 0; i < 60; i++) {
    await sleep(500);
    try {
      up = await query('up{job="soundstorm"}');
      audio = await query("soundstorm_audio_seconds_total");
      if (up[0]?.value[1] === "1" && audio.length && Number(audio[0].value[1]) > 0) break;
    } catch { /* not up yet */ }
  }
  assert.equal(up[0]?.value[1], "1", "scrape target is up");
  assert.ok(Math.abs(Number(audio[0].value[1]) - done.summary.audio_seconds) < 1e-3);
  const hist = await query("soundstorm_time_to_first_audio_seconds_count");
  assert.equal(Number(hist[0]?.value[1]), 1);
  c.close();
});
