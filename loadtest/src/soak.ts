/**
 * Soak benchmark: the server at nominal load for a long time; its resident memory must stay flat.
 *   npm run bench:soak -- --minutes 30 --streams 8 [--json OUT]
 * Memory is sampled every 10 s; "growth" compares the mean of the last fifth of the run with the
 * mean of the second fifth (the first fifth is warm-up).
 */
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, checked, numberFlag, stringFlag } from "./args.js";
import { runLoad } from "./run.js";
import { startServerProcess } from "./server-process.js";
import { loadParagraphs } from "./text.js";

const USAGE = "usage: npm run bench:soak -- [--minutes M] [--streams N] [--json OUT]";
const values = benchArgs(USAGE, { minutes: { type: "string" }, streams: { type: "string" }, json: { type: "string" } });
const { minutes, streams } = checked(USAGE, () => ({
  minutes: numberFlag(values, "minutes", 30, { min: 0.1 }),
  streams: numberFlag(values, "streams", 8, { min: 1, integer: true }),
}));
const json = stringFlag(values, "json");
const here = dirname(fileURLToPath(import.meta.url));
const server = await startServerProcess();
const samples: { t: number; rss_mb: number }[] = [];
const t0 = Date.now();
const sampler = setInterval(() => {
  void server.rssBytes().then((b) => samples.push({ t: Math.round((Date.now() - t0) / 1000), rss_mb: Math.round(b / 1e5) / 10 }));
}, 10_000);
const result = await runLoad({
  url: server.url, streams, durationS: minutes * 60, rate: 0, rampS: 5, contextsPerSocket: 2,
  paragraphs: loadParagraphs(resolve(here, "../../../loadtest/texts.txt")), tokensPerS: 40, jitter: 0.3,
  jitterBufferMs: 100, cancelFraction: 0.1, turnTimeoutS: 120,
}, (p) => process.stderr.write(`\r[${p.elapsedS.toFixed(0)} s] turns ${p.turns} p95 ${p.ttfaP95} ms errors ${p.errors}  rss ${samples.at(-1)?.rss_mb ?? "?"} MB   `));
clearInterval(sampler);
await server.stop();
const n = samples.length;
const mean = (xs: { rss_mb: number }[]) => xs.reduce((a, x) => a + x.rss_mb, 0) / Math.max(1, xs.length);
const early = mean(samples.slice(Math.floor(n / 5), Math.floor((2 * n) / 5)));
const late = mean(samples.slice(Math.floor((4 * n) / 5)));
const out = {
  minutes, streams, turns: result.turns, errors: result.errors, cancelled: result.cancelled,
  ttfa_ms: result.ttfa_ms, underruns: result.underruns,
  rss_early_mb: Math.round(early * 10) / 10, rss_late_mb: Math.round(late * 10) / 10,
  growth_pct: Math.round(((late - early) / early) * 1000) / 10, samples,
};
process.stderr.write("\n");
if (json) writeFileSync(json, JSON.stringify(out, null, 2) + "\n");
const { samples: _s, ...summary } = out;
console.log(JSON.stringify(summary, null, 2));
