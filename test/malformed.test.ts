/** Every malformed message gets a typed error; the socket stays usable and other contexts are unaffected. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { App } from "../src/app.js";
import { startTestServer, TestClient } from "./helpers.js";

let app: App;
before(async () => { app = await startTestServer({ limits: { maxTextCharsPerMessage: 500, maxTextCharsPerContext: 1000, maxContextsPerSocket: 3, maxMessageBytes: 16 * 1024, maxFrameBytes: 64 * 1024 } }); });
after(async () => { await app.close(); });

const CASES: { name: string; send: (c: TestClient) => void; code: string; contextId?: string }[] = [
  { name: "invalid JSON", send: (c) => c.sendRaw("{not json"), code: "invalid_json" },
  { name: "JSON that is not an object", send: (c) => c.sendRaw("[1,2]"), code: "invalid_message" },
  { name: "binary from the client", send: (c) => c.sendRaw(Buffer.from([1, 2, 3]), true), code: "binary_not_supported" },
  { name: "unknown type", send: (c) => c.send({ type: "sing", context_id: "a" }), code: "unknown_message_type", contextId: "a" },
  { name: "missing type", send: (c) => c.send({ context_id: "a" }), code: "invalid_message", contextId: "a" },
  { name: "missing field", send: (c) => c.send({ type: "append_text", context_id: "a" }), code: "invalid_message", contextId: "a" },
  { name: "wrongly typed field", send: (c) => c.send({ type: "append_text", context_id: "a", text: 42 }), code: "invalid_message", contextId: "a" },
  { name: "extra field", send: (c) => c.send({ type: "flush", context_id: "a", now: true }), code: "invalid_message", contextId: "a" },
  { name: "bad enum value", send: (c) => c.send({ type: "create_context", context_id: "z", format: "mp3" }), code: "invalid_message", contextId: "z" },
  { name: "speed out of range", send: (c) => c.send({ type: "create_context", context_id: "s", speed: 3 }), code: "invalid_message", contextId: "s" },
  { name: "bad context id", send: (c) => c.send({ type: "flush", context_id: "has space" }), code: "invalid_message", contextId: "has space" },
  { name: "text over the per-message limit", send: (c) => c.send({ type: "append_text", context_id: "a", text: "x".repeat(501) }), code: "text_too_long", contextId: "a" },
  { name: "unknown context", send: (c) => c.send({ type: "append_text", context_id: "nope", text: "hi" }), code: "unknown_context", contextId: "nope" },
  { name: "unknown voice", send: (c) => c.send({ type: "create_context", context_id: "v", voice: "nobody" }), code: "unknown_voice", contextId: "v" },
  { name: "duplicate context", send: (c) => c.send({ type: "create_context", context_id: "a" }), code: "context_exists", contextId: "a" },
];

test("each malformed message gets its typed error, and the socket and other contexts keep working", async () => {
  const c = await TestClient.connect(app.port);
  c.send({ type: "create_context", context_id: "a", format: "pcm_s16le" });
  await c.nextEvent("context_created", "a");
  c.send({ type: "create_context", context_id: "b", format: "pcm_s16le", pacing: "burst" });
  await c.nextEvent("context_created", "b");
  c.send({ type: "append_text", context_id: "b", text: "Context b speaks through all of this" });

  for (const k of CASES) {
    k.send(c);
    const err = await c.nextEvent("error");
    assert.equal(err.code, k.code, k.name);
    assert.match(err.code, /^[a-z][a-z0-9_]*$/);
    assert.ok(err.message.length > 0, k.name);
    assert.equal(err.context_id, k.contextId, `${k.name}: context_id`);
    // still usable: a ping round-trips after every bad message
    c.send({ type: "ping", id: k.name });
    assert.equal((await c.nextEvent("pong")).id, k.name);
  }

  // per-context total limit
  c.send({ type: "append_text", context_id: "a", text: "y ".repeat(240) });
  c.send({ type: "append_text", context_id: "a", text: "y ".repeat(240) });
  c.send({ type: "append_text", context_id: "a", text: "y ".repeat(240) });
  assert.equal((await c.nextEvent("error", "a")).code, "text_too_long");
  c.send({ type: "cancel", context_id: "a" });
  await c.nextEvent("context_done", "a");

  // context limit (3): b open, plus two more, the fourth is refused
  c.send({ type: "create_context", context_id: "c2" });
  c.send({ type: "create_context", context_id: "c3" });
  c.send({ type: "create_context", context_id: "c4" });
  assert.equal((await c.nextEvent("error", "c4")).code, "too_many_contexts");

  // after end, no more text
  c.send({ type: "end", context_id: "b" });
  c.send({ type: "append_text", context_id: "b", text: "late" });
  const late = await c.nextEvent("error", "b");
  assert.ok(late.code === "context_ended" || late.code === "unknown_context", late.code);

  // b was unaffected by all of the above
  const done = await c.nextEvent("context_done", "b", 30_000);
  assert.equal(done.cancelled, false);
  assert.ok(done.summary.audio_samples > 0);
  c.close();
});

test("a message over the size limit closes the socket with 1009", async () => {
  const c = await TestClient.connect(app.port);
  c.sendRaw(JSON.stringify({ type: "append_text", context_id: "a", text: "x".repeat(20 * 1024) }));
  const err = await c.nextEvent("error");
  assert.equal(err.code, "message_too_large");
  assert.equal(await c.closed(), 1009);
});

test("a frame over the hard cap is refused with 1009 from its header (the frame guard), never buffered", async () => {
  const c = await TestClient.connect(app.port);
  c.sendRaw(Buffer.alloc(8 * 1024 * 1024, 0x20));
  assert.equal(await c.closed(), 1009);
});
