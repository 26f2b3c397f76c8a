/** The load tester against a real server: JSON fields, HTML plots, and counts that match the server's metrics. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../src/app.js";
import { main } from "../loadtest/src/cli.js";
import { p95 } from "../loadtest/src/report-html.js";
import { Playout } from "../loadtest/src/playout.js";
import { chunkEndFromWords, sentAtOffset, textSentAt, tokenize } from "../loadtest/src/text.js";
import { startTestServer } from "./helpers.js";

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

test("tokenizer keeps the text; time to first audio starts when the server's first chunk was all sent", () => {
  const text = "Sure, I can help with that. Extraordinarily simple.";
  const toks = tokenize(text);
  assert.equal(toks.join(""), text);
  let sent = "";
  const at = toks.map((t, i) => ({ end: (sent += t).length, at: 100 * i }));
  // a profile whose first chunk needs more than "Sure," (firstMinChars): timed from "that.", not from "Sure,"
  assert.equal(textSentAt(sent, at, "Sure, I can help with that."), 100 * toks.indexOf("that. "));
  assert.equal(textSentAt(sent, at, "Sure,"), 0);
  // cut on the delay timer inside the text: the last token it includes
  assert.equal(textSentAt(sent, at, "Sure, I can"), 100 * toks.indexOf("can "));
  assert.equal(textSentAt("", [], "x"), null);
  // the same from the first chunk's words (a turn cancelled before its chunk_metrics): marks on the last word count
  const w = (word: string) => ({ word, char_offset: text.indexOf(word) });
  assert.equal(sentAtOffset(at, chunkEndFromWords(sent, [w("Sure"), w("I"), w("can"), w("help"), w("with"), w("that")])!), 100 * toks.indexOf("that. "));
  assert.equal(sentAtOffset(at, chunkEndFromWords(sent, [w("Sure")])!), 0);
  assert.equal(chunkEndFromWords(sent, []), null);
});

test("playout counts an underrun when a frame arrives after its play time", () => {
  const p = new Playout(100);
  p.arrive(0);      // plays 100..120
  p.arrive(10);     // due at 120
  p.arrive(150);    // due at 140: 10 ms late
  p.arrive(160);    // due 150 + 10 stall = 170: on time
  assert.equal(p.underruns, 1);
  assert.equal(p.underrunMs, 10);
  assert.deepEqual(p.gaps, [10, 140, 10]);
});

test("playout tells which chunk ran dry and how early each chunk arrived", () => {
  const p = new Playout(100);
  p.arrive(0, true);     // chunk 0 plays 100..140
  p.arrive(0);
  p.arrive(90, true);    // chunk 1, due at 140: 50 ms early
  p.arrive(200, true);   // chunk 2, due at 160: 40 ms late, at 60 ms into the audio
  assert.deepEqual(p.chunkMarginsMs, [100, 50, -40]);
  assert.deepEqual(p.underrunsAt, [{ chunk: 2, audioMs: 60, ms: 40 }]);
});

test("a short run writes JSON and an HTML report whose counts match the server's /metrics", async () => {
  const dir = mkdtempSync(join(tmpdir(), "soundstorm-lt-"));
  const json = join(dir, "out.json"), html = join(dir, "report.html");
  const log = console.log;
  console.log = () => {};
  try {
    const rc = await main(["--url", `ws://127.0.0.1:${app.port}/v1/stream`, "--streams", "3", "--duration", "3",
      "--contexts-per-socket", "2", "--tokens-per-s", "80", "--json", json, "--report", html, "--quiet"]);
    assert.equal(rc, 0);
  } finally {
    console.log = log;
  }
  const r = JSON.parse(readFileSync(json, "utf8"));
  for (const k of ["streams", "duration_s", "turns", "ttfa_ms", "ttfa_server_ms", "gap_ms", "underruns", "underrun_ms", "rtf", "errors"]) assert.ok(k in r, k);
  for (const k of ["p50", "p95", "p99"]) assert.equal(typeof r.ttfa_ms[k], "number");
  assert.ok(r.turns >= 3);
  assert.equal(r.errors, 0);
  assert.equal(r.decode_errors, 0);
  assert.deepEqual(r.server_matches, { turns: true, audio_seconds: true, errors: true });
  const page = readFileSync(html, "utf8");
  assert.equal((page.match(/<svg /g) ?? []).length, 4);
  assert.match(page, /Latency CDFs/);
  assert.match(page, /<polyline/);
});

test("the CLI refuses bad flags with a reason and exit 2; --streams defaults to 1; a run with no completed turn exits 1", async () => {
  const err = console.error;
  const said: string[] = [];
  console.error = (m: string) => { said.push(String(m)); };
  try {
    const base = ["--url", "ws://127.0.0.1:9/v1/stream", "--duration", "1", "--quiet"];
    for (const [extra, why] of [[["--streams", "abc"], /--streams must be/], [["--text", "/nonexistent"], /nonexistent/],
      [["--tokens-per-s", "0"], /--tokens-per-s must be above 0/]] as const) {
      said.length = 0;
      assert.equal(await main([...base, ...extra]), 2, extra.join(" "));
      assert.match(said.join("\n"), why);
    }
    said.length = 0;
    assert.equal(await main(["--url", "notaurl", "--duration", "1"]), 2);
    assert.match(said.join("\n"), /ws:\/\/ or wss:\/\//);
    // no --streams: one stream; nothing listens on port 9, so no turn completes
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await main(base), 1);
    } finally {
      console.log = log;
    }
  } finally {
    console.error = err;
  }
});

test("the HTML report's p95 is the nearest rank, as the JSON summary's", () => {
  assert.equal(p95([5, 1]), 5);
  assert.equal(p95([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 10);
  assert.equal(p95(Array.from({ length: 100 }, (_, i) => i + 1)), 95);
  assert.equal(p95([]), 0);
});
