import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { renderSchemas } from "../src/protocol/emit-schemas.js";
import { decodeAudioMessage, encodeAudioMessage, FLAG_LAST } from "../src/protocol/audio-header.js";
import { parseClientMessage } from "../src/protocol/parse.js";
import { ERRORS, ServiceError } from "../src/errors.js";

test("protocol/schemas is in sync with the TypeBox source (run `npm run schemas` after changing messages)", () => {
  const want = renderSchemas();
  const have = readdirSync("protocol/schemas").filter((f) => f.endsWith(".json")).sort();
  assert.deepEqual(have, Object.keys(want).sort());
  for (const [f, text] of Object.entries(want)) assert.equal(readFileSync(`protocol/schemas/${f}`, "utf8"), text, f);
});

test("every error code and every schema file is documented in protocol/README.md", () => {
  const spec = readFileSync("protocol/README.md", "utf8");
  for (const code of Object.keys(ERRORS)) assert.ok(spec.includes(`\`${code}\``), `error ${code} undocumented`);
  for (const f of Object.keys(renderSchemas())) assert.ok(spec.includes(f.replace(/\.json$/, "").split(".")[1]), `${f} undocumented`);
});

test("audio header round-trips and is 16 bytes little-endian", () => {
  const payload = new Uint8Array([9, 8, 7]);
  const msg = encodeAudioMessage({ contextIndex: 513, seq: 70000, timestamp48k: 2 ** 40 + 5, flags: FLAG_LAST }, payload);
  assert.equal(msg.length, 19);
  assert.deepEqual([...msg.subarray(0, 4)], [1, FLAG_LAST, 1, 2]);
  const { header, payload: p } = decodeAudioMessage(msg);
  assert.deepEqual(header, { contextIndex: 513, seq: 70000, timestamp48k: 2 ** 40 + 5, flags: FLAG_LAST });
  assert.deepEqual([...p], [9, 8, 7]);
  assert.throws(() => decodeAudioMessage(new Uint8Array(5)), RangeError);
});

test("parser accepts each valid message and names the offending field otherwise", () => {
  const L = { maxTextCharsPerMessage: 100 };
  const ok = [
    { type: "create_context", context_id: "c1", voice: "slt", format: "ogg_opus", latency: "low", seed: 3 },
    { type: "append_text", context_id: "c1", text: "hi" },
    { type: "flush", context_id: "c1" }, { type: "end", context_id: "c1" }, { type: "cancel", context_id: "c1" },
    { type: "ping" }, { type: "ping", id: 4 },
  ];
  for (const m of ok) assert.deepEqual(parseClientMessage(JSON.stringify(m), L), m);
  try {
    parseClientMessage(JSON.stringify({ type: "create_context", context_id: "c1", seed: -1 }), L);
    assert.fail("should throw");
  } catch (e) {
    assert.ok(e instanceof ServiceError);
    assert.equal(e.code, "invalid_message");
    assert.match(e.message, /\/seed/);
  }
});
