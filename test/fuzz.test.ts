/** Property-based fuzzing of client message sequences: no crash, no unhandled rejection, only typed errors. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import fc from "fast-check";
import { buildConfig } from "../src/config.js";
import { ERRORS } from "../src/errors.js";
import { createMetrics } from "../src/metrics.js";
import { loadModelSet, SERVING_GRAPHS, type ModelSet } from "../src/models/model-set.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { Admission } from "../src/server/admission.js";
import { Connection } from "../src/session/connection.js";
import { localBackend, Synthesizer } from "../src/synth/synthesizer.js";
import { FIXTURE_MODEL, sleep } from "./helpers.js";

let models: ModelSet;
let synth: Synthesizer;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };
before(async () => {
  models = await loadModelSet(resolve("models/fixture"), { intraOpThreads: 1 }, SERVING_GRAPHS);
  synth = new Synthesizer(localBackend(models));
  process.on("unhandledRejection", onUnhandled);
});
after(async () => {
  process.off("unhandledRejection", onUnhandled);
  await models.dispose();
});

const ids = fc.constantFrom("a", "b", "c", "", "x y", "a".repeat(70));
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("Hello there, ", "world. ", "!!!", "   ", "12 apples, 3 pears.", "\u0000\u0007", "émigré café — naïve?", "🙂🙂", "a".repeat(300)),
);
const validish = fc.oneof(
  fc.record({ type: fc.constant("create_context"), context_id: ids, voice: fc.option(fc.constantFrom("slt", "awb", "nobody"), { nil: undefined }),
    format: fc.option(fc.constantFrom("opus", "ogg_opus", "pcm_s16le", "mp3"), { nil: undefined }),
    latency: fc.option(fc.constantFrom("low", "balanced", "quality", "fast"), { nil: undefined }) }, { requiredKeys: ["type", "context_id"] }),
  fc.record({ type: fc.constant("append_text"), context_id: ids, text }),
  fc.record({ type: fc.constantFrom("flush", "end", "cancel"), context_id: ids }),
  fc.record({ type: fc.constant("ping"), id: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) }),
  fc.record({ type: fc.constant("playback_report"), underruns: fc.integer({ min: -5, max: 5 }), underrun_ms: fc.double() }),
);
const garbage = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.json({ maxDepth: 3 }),
  fc.anything({ maxDepth: 2 }).map((v) => { try { return JSON.stringify(v) ?? "null"; } catch { return "{}"; } }),
  fc.record({ type: fc.string({ maxLength: 12 }), context_id: fc.anything({ maxDepth: 1 }) }).map((v) => JSON.stringify(v)),
);
const message = fc.oneof({ weight: 4, arbitrary: validish.map((m) => JSON.stringify(m)) }, { weight: 1, arbitrary: garbage });

test("random message sequences: no exception, no unhandled rejection, only typed errors, nothing left open", async () => {
  const config = buildConfig({ modelDir: FIXTURE_MODEL, limits: { maxTextCharsPerMessage: 200, maxTextCharsPerContext: 1000, maxContextsPerSocket: 3 } });
  const codes = new Set(Object.keys(ERRORS));
  const seen = new Map<string, number>();
  await fc.assert(fc.asyncProperty(fc.array(fc.oneof(message, fc.constant("__binary__")), { maxLength: 25 }), fc.boolean(), async (msgs, closeEarly) => {
    const events: ServerEvent[] = [];
    const admission = new Admission(8, 100);
    const metrics = createMetrics();
    const conn = new Connection({ synth, config, metrics, admission, draining: () => false,
      principal: { id: "f", maxContexts: 8, charsPerMinute: Number.MAX_SAFE_INTEGER, maxSockets: 100 } },
    { sendJson: (e) => { JSON.stringify(e); events.push(e); }, sendBinary: (b) => { assert.ok(b.length >= 16); } });
    for (const m of msgs) {
      if (m === "__binary__") conn.onBinary(); else conn.onText(m);
    }
    if (closeEarly) {
      conn.onClose();
    } else {
      for (const id of ["a", "b", "c"]) conn.onText(JSON.stringify({ type: "end", context_id: id }));
      for (let i = 0; i < 500 && admission.activeContexts > 0; i++) await sleep(10);
      conn.onClose();
    }
    for (const e of events) {
      seen.set(e.type, (seen.get(e.type) ?? 0) + 1);
      if (e.type === "error") assert.ok(codes.has(e.code), `untyped error code ${e.code}`);
    }
    assert.equal(admission.activeContexts, 0, "every context was released");
  }), { numRuns: 60, seed: 20261123 });
  await sleep(100);
  assert.deepEqual(unhandled, []);
  // the generator reaches the interesting paths, not only parse errors
  for (const t of ["context_created", "audio_start", "context_done", "error", "pong"]) assert.ok((seen.get(t) ?? 0) > 0, `no ${t} events: ${JSON.stringify([...seen])}`);
});
