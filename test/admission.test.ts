/** Per-key character budgets on sockets: refused text costs nothing; text that could never fit is refused as such
 * (random-weight fixture: mechanics only). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig } from "../src/config.js";
import { createMetrics } from "../src/metrics.js";
import type { ServerEvent } from "../src/protocol/messages.js";
import { Admission } from "../src/server/admission.js";
import { Connection } from "../src/session/connection.js";
import { FIXTURE_MODEL, fixtureSynthesizer } from "./helpers.js";

const fixture = fixtureSynthesizer();

function socket(charsPerMinute: number) {
  const events: ServerEvent[] = [];
  const principal = { id: "k", maxContexts: 4, charsPerMinute, maxSockets: 4 };
  const config = buildConfig({ modelDir: FIXTURE_MODEL, limits: { ...buildConfig().limits, maxTextCharsPerMessage: 60, maxTextCharsPerContext: 80 } });
  const conn = new Connection({ synth: fixture(), config, metrics: createMetrics(), admission: new Admission(100, 100), principal, draining: () => false },
    { sendJson: (e) => events.push(e), sendBinary: () => {} });
  const send = (m: unknown) => conn.onText(JSON.stringify(m));
  const errors = () => events.flatMap((e) => (e.type === "error" ? [e] : []));
  return { conn, send, errors };
}

test("append_text: text a context refuses spends none of the key's budget", () => {
  const { conn, send, errors } = socket(100);
  send({ type: "create_context", context_id: "a" });
  send({ type: "create_context", context_id: "b" });
  send({ type: "append_text", context_id: "a", text: "z ".repeat(25) });           // 50 of 100 spent
  assert.deepEqual(errors(), []);
  send({ type: "append_text", context_id: "a", text: "y ".repeat(20) });           // context would hold 90 > 80
  assert.equal(errors().at(-1)?.code, "text_too_long");
  send({ type: "end", context_id: "a" });
  send({ type: "append_text", context_id: "a", text: "u" });                       // ended
  assert.equal(errors().at(-1)?.code, "context_ended");
  // neither refusal was charged: the other 50 go through, and only then is the budget spent
  send({ type: "append_text", context_id: "b", text: "w ".repeat(25) });
  assert.equal(errors().length, 2, JSON.stringify(errors()));
  send({ type: "append_text", context_id: "b", text: "v" });
  const rl = errors().at(-1);
  assert.ok(rl?.code === "rate_limited" && (rl.retry_after_ms ?? 0) > 0, JSON.stringify(rl));
  conn.onClose();
});

test("append_text longer than the key's whole minute is text_too_long, not a rate_limited no wait would cure", () => {
  const { conn, send, errors } = socket(30);
  send({ type: "create_context", context_id: "a" });
  send({ type: "append_text", context_id: "a", text: "x".repeat(31) });
  const e = errors().at(-1);
  assert.ok(e?.code === "text_too_long" && e.retry_after_ms === undefined && e.context_id === "a", JSON.stringify(e));
  send({ type: "append_text", context_id: "a", text: "x".repeat(30) });            // exactly a minute's worth: fine
  assert.equal(errors().length, 1);
  conn.onClose();
});
