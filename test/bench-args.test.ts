/** The benchmark scripts' flags: help, unknown and out-of-range flags stop a run before any server starts. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { countListFlag, numberFlag, readArgs, stringFlag, UsageError } from "../loadtest/src/args.js";

const USAGE = "usage: bench [--streams N] [--json OUT]";
const OPTIONS = { streams: { type: "string" }, json: { type: "string" } } as const;

test("readArgs: values, --help and -h, and unknown flags with the usage", () => {
  const ok = readArgs(USAGE, OPTIONS, ["--streams", "4", "--json", "out.json"]);
  assert.deepEqual(ok, { ok: true, values: { streams: "4", json: "out.json" } });
  for (const h of ["--help", "-h"]) assert.deepEqual(readArgs(USAGE, OPTIONS, [h]), { ok: false, code: 0, text: USAGE });
  const bad = readArgs(USAGE, OPTIONS, ["--stream", "4"]);
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.code, 2);
    assert.match(bad.text, /--stream/);
    assert.ok(bad.text.endsWith(USAGE));
  }
  // a positional argument is a mistake too (a forgotten "--" before a flag's name)
  assert.equal(readArgs(USAGE, OPTIONS, ["streams"]).ok, false);
});

test("numberFlag: fallback when absent; whole numbers and minimums enforced with the flag named", () => {
  assert.equal(numberFlag({}, "streams", 16), 16);
  assert.equal(numberFlag({ streams: "8" }, "streams", 16, { min: 1, integer: true }), 8);
  assert.equal(numberFlag({ ramp: "2.5" }, "ramp", 4), 2.5);
  for (const v of ["abc", "", " ", "0", "1.5", "-3", "Infinity"]) {
    assert.throws(() => numberFlag({ streams: v }, "streams", 16, { min: 1, integer: true }),
      (e: unknown) => e instanceof UsageError && /--streams must be a whole number of at least 1/.test(e.message), v);
  }
  assert.throws(() => numberFlag({ ramp: "-1" }, "ramp", 4), UsageError);
  // a string option given as a boolean (no value) is refused by parseArgs; a boolean here is not a number either
  assert.throws(() => numberFlag({ streams: true }, "streams", 16), UsageError);
});

test("countListFlag and stringFlag", () => {
  assert.deepEqual(countListFlag({}, "sweep", [8, 12]), [8, 12]);
  assert.deepEqual(countListFlag({ sweep: "4, 6,8" }, "sweep", []), [4, 6, 8]);
  for (const v of ["4,,8", "4,x", "0,4", "2.5", ""]) assert.throws(() => countListFlag({ sweep: v }, "sweep", []), UsageError, v);
  assert.equal(stringFlag({ json: "a.json" }, "json"), "a.json");
  assert.equal(stringFlag({}, "json"), undefined);
  assert.equal(stringFlag({ json: true }, "json"), undefined);
});

test("a benchmark script refuses a bad flag with exit code 2 and prints its usage for --help", () => {
  const script = join(dirname(fileURLToPath(import.meta.url)), "../loadtest/src/bench.js");
  const bad = spawnSync(process.execPath, [script, "--sweep", "4,x"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--sweep must be whole numbers/);
  assert.match(bad.stderr, /usage: npm run bench/);
  const skip = spawnSync(process.execPath, [script, "--skip", "singel"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(skip.status, 2);
  assert.match(skip.stderr, /--skip takes single, concurrent, capacity, sweep; got 'singel'/);
  const help = spawnSync(process.execPath, [script, "--help"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run bench/);
});
