import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { App } from "../src/app.js";
import { startTestServer, TestClient } from "./helpers.js";

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

/** A strict reader of the Prometheus text exposition format (0.0.4). */
function parseExposition(body: string): Map<string, { type: string; samples: { name: string; value: number }[] }> {
  const families = new Map<string, { type: string; samples: { name: string; value: number }[] }>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$/;
  for (const line of body.split("\n")) {
    if (line === "") continue;
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line))) continue;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      families.set(m[1], { type: m[2], samples: [] });
      continue;
    }
    m = sample.exec(line);
    assert.ok(m, `not a valid exposition line: ${JSON.stringify(line)}`);
    const name = m[1];
    const fam = [...families.entries()].find(([f]) => name === f || name === `${f}_bucket` || name === `${f}_sum` || name === `${f}_count`);
    assert.ok(fam, `sample ${name} before its TYPE line`);
    fam[1].samples.push({ name, value: Number(m[4]) });
  }
  return families;
}

test("/metrics is valid Prometheus text with the named metrics, counting real traffic", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "m", format: "opus", pacing: "burst" });
  c.send({ type: "append_text", context_id: "m", text: "Counting audio seconds." });
  c.send({ type: "end", context_id: "m" });
  const done = await c.nextEvent("context_done", "m", 30_000);
  c.send("{bad");
  await c.nextEvent("error");

  const res = await fetch(`http://127.0.0.1:${app.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const fams = parseExposition(await res.text());
  const want: Record<string, string> = {
    soundstorm_time_to_first_audio_seconds: "histogram",
    soundstorm_active_contexts: "gauge",
    soundstorm_active_sockets: "gauge",
    soundstorm_audio_seconds_total: "counter",
    soundstorm_errors_total: "counter",
    soundstorm_stage_duration_seconds: "histogram",
    soundstorm_process_cpu_seconds_total: "counter",
    soundstorm_process_resident_memory_bytes: "gauge",
  };
  for (const [name, type] of Object.entries(want)) {
    assert.equal(fams.get(name)?.type, type, `${name} should be a ${type}`);
  }
  const value = (n: string) => fams.get(n)!.samples.find((s) => s.name === n)?.value;
  assert.ok(Math.abs(value("soundstorm_audio_seconds_total")! - done.summary.audio_seconds) < 1e-3);
  assert.equal(fams.get("soundstorm_time_to_first_audio_seconds")!.samples.find((s) => s.name.endsWith("_count"))!.value, 1);
  assert.ok(value("soundstorm_errors_total")! >= 1);
  assert.equal(value("soundstorm_active_sockets"), 1);
  c.close();
});

test("health and readiness endpoints", async () => {
  assert.equal((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${app.port}/readyz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${app.port}/nope`)).status, 404);
});
