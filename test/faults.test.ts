/** Faults: a failing context fails alone; vanished clients leave nothing behind; slow consumers are bounded; SIGTERM drains. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import WebSocket from "ws";
import { buildConfig, DEFAULT_CONFIG, type ConfigOverrides } from "../src/config.js";
import { createMetrics } from "../src/metrics.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { decodeAudioMessage, FLAG_LAST } from "../src/protocol/audio-header.js";
import { Admission } from "../src/server/admission.js";
import { Connection } from "../src/session/connection.js";
import type { Synthesizer } from "../src/synth/synthesizer.js";
import { FIXTURE_MODEL, fixtureSynthesizer, sleep, startTestServer, TestClient, withSynthesize } from "./helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const fixture = fixtureSynthesizer();

/** A synthesizer whose streams fail on text containing FAIL (fault injection for one context). */
function faultySynth(inner: Synthesizer): Synthesizer {
  return withSynthesize(inner, (synthesize) => async (text, o) => {
    if (text.includes("FAIL")) throw new Error("injected inference fault");
    return synthesize(text, o);
  });
}

function connection(s: Synthesizer) {
  const events: ServerEvent[] = [];
  const config = buildConfig({ modelDir: FIXTURE_MODEL });
  const metrics = createMetrics();
  const admission = new Admission(100, 100);
  const conn = new Connection({ synth: s, config, metrics, admission, draining: () => false,
    principal: { id: "t", maxContexts: 100, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: 100 } },
  { sendJson: (e) => events.push(e), sendBinary: () => {} });
  const waitFor = async (pred: (e: ServerEvent) => boolean, ms = 20_000) => {
    const t0 = Date.now();
    for (;;) {
      const e = events.find(pred);
      if (e) return e;
      if (Date.now() - t0 > ms) throw new Error(`timeout; events: ${JSON.stringify(events.map((x) => x.type))}`);
      await sleep(10);
    }
  };
  return { conn, events, waitFor, admission };
}

test("an inference failure fails that context with a typed error and nothing else", async () => {
  const { conn, events, waitFor, admission } = connection(faultySynth(fixture()));
  const send = (m: unknown) => conn.onText(JSON.stringify(m));
  send({ type: "create_context", context_id: "bad" });
  send({ type: "create_context", context_id: "good" });
  send({ type: "append_text", context_id: "good", text: "This context keeps talking. " });
  send({ type: "append_text", context_id: "bad", text: "Please FAIL now." });
  send({ type: "end", context_id: "bad" });
  send({ type: "end", context_id: "good" });
  const err = await waitFor((e) => e.type === "error" && e.context_id === "bad");
  assert.equal((err as { code: string }).code, "inference_failed");
  const done = await waitFor((e) => e.type === "context_done" && e.context_id === "good");
  assert.equal((done as { cancelled: boolean }).cancelled, false);
  assert.equal(events.filter((e) => e.type === "context_done" && e.context_id === "bad").length, 0);
  // the failed context's id is free again and admission released it
  send({ type: "create_context", context_id: "bad" });
  await waitFor((e) => e.type === "context_created" && e.context_id === "bad" && events.filter((x) => x.type === "context_created" && x.context_id === "bad").length === 2);
  conn.onClose();
  assert.equal(admission.activeContexts, 0);
});

/** One context's messages in the order the socket got them: JSON events by type, audio frames as "audio" or "last". */
function orderedConnection(s: Synthesizer, overrides: ConfigOverrides = {}) {
  const log: { kind: string; ev?: ServerEvent }[] = [];
  const config = buildConfig({ modelDir: FIXTURE_MODEL }, overrides);
  const metrics = createMetrics();
  const conn = new Connection({ synth: s, config, metrics, admission: new Admission(100, 100), draining: () => false,
    principal: { id: "t", maxContexts: 100, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: 100 } },
  {
    sendJson: (e) => log.push({ kind: e.type === "error" ? `error:${(e as { code: string }).code}` : e.type, ev: e }),
    sendBinary: (b) => log.push({ kind: decodeAudioMessage(b).header.flags & FLAG_LAST ? "last" : "audio" }),
  });
  const until = async (kind: string) => {
    const t0 = Date.now();
    while (!log.some((x) => x.kind === kind)) {
      if (Date.now() - t0 > 30_000) throw new Error(`no ${kind}; got ${log.map((x) => x.kind).join(" ")}`);
      await sleep(10);
    }
  };
  return { conn, log, until, metrics, send: (m: unknown) => conn.onText(JSON.stringify(m)) };
}

test("an inference failure after some audio: that audio still goes out, ended by a last frame, then the error", async () => {
  const { conn, log, until, send } = orderedConnection(faultySynth(fixture()));
  send({ type: "create_context", context_id: "c" });
  send({ type: "append_text", context_id: "c", text: "This first part is spoken well." });
  send({ type: "flush", context_id: "c" });
  send({ type: "append_text", context_id: "c", text: "Then FAIL here." });
  send({ type: "end", context_id: "c" });
  await until("error:inference_failed");
  const kinds = log.map((x) => x.kind).filter((k) => k !== "context_created");
  const audio = kinds.filter((k) => k === "audio" || k === "last");
  assert.ok(audio.length > 10, "the first chunk's audio was delivered");
  assert.equal(kinds.filter((k) => k === "last").length, 1);
  assert.deepEqual(kinds.slice(-2), ["last", "error:inference_failed"], "the stream ends, then the error: nothing after it");
  assert.ok(kinds.indexOf("chunk_metrics") < kinds.indexOf("last"), "the good chunk's metrics came before the end");
  assert.ok(!kinds.includes("context_done"));
  conn.onClose();
});

test("no_speakable_text keeps its place among the context's audio and names the chunk it skipped", async () => {
  // chunks not merged, so the punctuation is a chunk of its own
  const { conn, log, until, send } = orderedConnection(fixture(), { inference: { ...DEFAULT_CONFIG.inference, coalesce: { enabled: false, maxChars: 240 } } });
  send({ type: "create_context", context_id: "c" });
  send({ type: "append_text", context_id: "c", text: "Hello there, how are you today, my friend?" });
  send({ type: "flush", context_id: "c" });
  // while the first chunk's audio is still being paced out
  await until("audio_start");
  send({ type: "append_text", context_id: "c", text: " ... !!! " });
  send({ type: "flush", context_id: "c" });
  await sleep(300);
  send({ type: "append_text", context_id: "c", text: "Fine, thanks." });
  send({ type: "end", context_id: "c" });
  await until("context_done");
  const kinds = log.map((x) => x.kind);
  const at = kinds.indexOf("error:no_speakable_text");
  const skipped = (log[at].ev as { chunk_index?: number }).chunk_index!;
  const metrics = log.map((x, i) => ({ i, x })).filter(({ x }) => x.kind === "chunk_metrics")
    .map(({ i, x }) => ({ i, chunk: (x.ev as { chunk_index: number }).chunk_index }));
  const order = kinds.filter((k) => k !== "audio").join(" ");
  assert.ok(metrics.some((m) => m.chunk < skipped) && metrics.some((m) => m.chunk > skipped), order);
  assert.ok(!metrics.some((m) => m.chunk === skipped), "the skipped chunk has no metrics");
  for (const m of metrics) assert.equal(m.i < at, m.chunk < skipped, `chunk ${m.chunk}'s metrics on the right side of the error: ${order}`);
  const done = log.find((x) => x.kind === "context_done")!.ev as { summary: { frames_sent: number } };
  assert.equal(done.summary.frames_sent, kinds.filter((k) => k === "audio" || k === "last").length);
  conn.onClose();
});

test("a context with nothing to say has no time to first audio and no real-time factor, in its summary or the metrics", async () => {
  const { conn, log, until, send, metrics } = orderedConnection(fixture());
  send({ type: "create_context", context_id: "q" });
  send({ type: "append_text", context_id: "q", text: "... !!!" });
  send({ type: "end", context_id: "q" });
  await until("context_done");
  const done = log.find((x) => x.kind === "context_done")!.ev as { summary: { ttfa_ms: number | null; audio_samples: number } };
  assert.equal(done.summary.audio_samples, 0);
  assert.equal(done.summary.ttfa_ms, null);
  const count = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => (v as { metricName?: string }).metricName === `${name}_count`)?.value ?? -1;
  assert.equal(await count("soundstorm_time_to_first_audio_seconds"), 0);
  assert.equal(await count("soundstorm_real_time_factor"), 0);
  conn.onClose();
});

test("1,000 clients vanishing mid-generation leave no contexts, sockets, handles or memory behind", async () => {
  const app = await startTestServer();
  try {
    const url = `ws://127.0.0.1:${app.port}/v1/stream`;
    const cycle = async (i: number) => {
      const ws = new WebSocket(url);
      await new Promise<void>((res, rej) => { ws.once("message", () => res()); ws.once("error", rej); });
      ws.send(JSON.stringify({ type: "create_context", context_id: `v${i}`, latency: "low", format: i % 2 ? "opus" : "ogg_opus" }));
      ws.send(JSON.stringify({ type: "append_text", context_id: `v${i}`, text: "Hello there, this sentence will never be heard in full. And neither will this one." }));
      await new Promise<void>((res) => ws.once("message", () => res())); // context_created: work is under way
      if (i % 3 === 0) await sleep(5);
      ws.terminate();
    };
    // read the gauges in process (an HTTP fetch would leave keep-alive timers of its own)
    const gauge = async (name: string) => {
      const g = name === "soundstorm_active_contexts" ? app.metrics.activeContexts : app.metrics.activeSockets;
      return (await g.get()).values[0]?.value ?? 0;
    };
    const settle = async () => {
      for (let i = 0; i < 400 && ((await gauge("soundstorm_active_contexts")) > 0 || (await gauge("soundstorm_active_sockets")) > 0); i++) await sleep(25);
      await sleep(200);
      gc();
      gc();
    };
    for (let i = 0; i < 200; i++) await cycle(i);
    await settle();
    // pending work = timers and immediates; sockets are covered by the gauges (the test's own fetch
    // keep-alive connections come and go, so they are not counted here)
    const pendingWork = () => process.getActiveResourcesInfo().filter((r) => r !== "TCPSocketWrap" && r !== "TCPWRAP");
    const heap0 = process.memoryUsage().heapUsed;
    const handles0 = pendingWork().length;
    for (let i = 200; i < 1000; i++) await cycle(i);
    await settle();
    const heap1 = process.memoryUsage().heapUsed;
    assert.equal(await gauge("soundstorm_active_contexts"), 0);
    assert.equal(await gauge("soundstorm_active_sockets"), 0);
    // short-lived timers of the last cycles may still be pending; a leak is what stays
    let pending = pendingWork().length;
    for (let i = 0; i < 60 && pending > handles0 + 2; i++) {
      await sleep(50);
      pending = pendingWork().length;
    }
    assert.ok(pending <= handles0 + 2, `pending work ${handles0} -> ${pending}: ${JSON.stringify(pendingWork())}`);
    assert.ok(heap1 - heap0 < 8 * 1024 * 1024, `heap grew by ${((heap1 - heap0) / 1e6).toFixed(1)} MB over 800 cycles`);
  } finally {
    await app.close();
  }
});

test("a client that stops reading is warned (slow_consumer), then closed with 4001", async () => {
  const app = await startTestServer({ limits: { slowConsumerBytes: 64 * 1024, maxBackpressureBytes: 256 * 1024 } });
  try {
    const c = await TestClient.connect(app.port);
    // stop reading from the TCP socket: the server's unsent backlog grows
    (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    c.send({ type: "create_context", context_id: "s", format: "pcm_s16le", latency: "low", pacing: "burst" });
    c.send({ type: "append_text", context_id: "s", text: "A long text that the client will not read in time. ".repeat(190) });
    c.send({ type: "end", context_id: "s" });
    // the kernel's socket buffers fill first; then the server's backlog passes the warning and the limit
    let slow = 0, sockets = 1;
    for (let i = 0; i < 1800 && sockets > 0; i++) {
      await sleep(100);
      const body = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
      slow = Number(/^soundstorm_slow_consumers_total (\S+)$/m.exec(body)?.[1] ?? 0);
      sockets = Number(/^soundstorm_active_sockets (\S+)$/m.exec(body)?.[1] ?? 1);
    }
    assert.equal(slow, 1);
    assert.equal(sockets, 0, "the server closed the slow socket");
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const code = await Promise.race([c.closed(), sleep(60_000).then(() => -1)]);
    assert.equal(code, 4001);
    assert.ok(c.events.some((e) => e.type === "error" && e.code === "slow_consumer"));
  } finally {
    await app.close();
  }
});

test("a drain that runs out of time reports each unfinished context once", async () => {
  const app = await startTestServer();
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "idle" });
  await c.nextEvent("context_created", "idle");
  c.send({ type: "create_context", context_id: "busy" });
  c.send({ type: "append_text", context_id: "busy", text: "This one is talking while the server drains." });
  await c.nextEvent("context_created", "busy");
  const { unfinished } = await app.drain(100);
  assert.equal(unfinished, 2);
  c.close();
});

test("SIGTERM drains: readiness false, new sockets refused, running context finishes, exit 0", async () => {
  const child = spawn(process.execPath, ["bin/soundstorm.js", "serve", "--port", "0", "--host", "127.0.0.1", "--model", FIXTURE_MODEL], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  try {
    let port = 0;
    for (let i = 0; i < 300 && !port; i++) {
      await sleep(50);
      port = Number(/listening on [^:]+:(\d+)/.exec(stderr)?.[1] ?? 0);
    }
    assert.ok(port > 0, stderr);
    const c = await TestClient.connect(port);
    c.send({ type: "create_context", context_id: "d", latency: "low" });
    c.send({ type: "append_text", context_id: "d", text: "We are still talking while the server drains. It should let us finish this sentence, and this one too." });
    c.send({ type: "end", context_id: "d" });
    await c.nextEvent("audio_start", "d");
    child.kill("SIGTERM");
    await sleep(100);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /draining/);
    const refused = await new Promise<number>((res) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
      ws.on("unexpected-response", (_q, r) => res(r.statusCode ?? 0));
      ws.on("open", () => res(101));
      ws.on("error", () => res(-1));
    });
    assert.equal(refused, 503);
    const done = await c.nextEvent("context_done", "d", 30_000);
    assert.equal(done.cancelled, false);
    assert.equal(await exited, 0);
    assert.match(stderr, /drained; all contexts finished/);
  } finally {
    child.kill("SIGKILL");
  }
});

test("a server that fails to start after its inference workers did exits with 1 instead of hanging", async () => {
  const child = spawn(process.execPath, ["bin/soundstorm.js", "serve", "--model", FIXTURE_MODEL, "--port", "0"], {
    env: { ...process.env, SOUNDSTORM_ACOUSTIC_LEVELS: "2" }, stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => { err += String(d); });
  const code = await Promise.race([
    new Promise<number | null>((r) => child.once("exit", (c) => r(c))),
    sleep(60_000).then(() => { child.kill("SIGKILL"); return -1; }),
  ]);
  assert.equal(code, 1, err);
  assert.match(err, /absent_code/);
});
