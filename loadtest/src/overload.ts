/**
 * Overload benchmark for admission control: first-audio latency at nominal load, then at twice the
 * nominal load with the server's capacity set to the nominal number of streams. Admitted streams
 * should keep their latency (p95 within 1.5x); the excess is refused with at_capacity.
 *   npm run bench:overload -- --streams 8 --duration 60 [--json OUT]
 */
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs, checked, numberFlag, stringFlag } from "./args.js";
import { runLoad, type LoadOptions } from "./run.js";
import { startServerProcess } from "./server-process.js";
import { loadParagraphs } from "./text.js";

const USAGE = "usage: npm run bench:overload -- [--streams N] [--duration S] [--json OUT]";
const values = benchArgs(USAGE, { streams: { type: "string" }, duration: { type: "string" }, json: { type: "string" } });
const { nominal, duration } = checked(USAGE, () => ({
  nominal: numberFlag(values, "streams", 8, { min: 1, integer: true }),
  duration: numberFlag(values, "duration", 60, { min: 1 }),
}));
const json = stringFlag(values, "json");
const here = dirname(fileURLToPath(import.meta.url));
const server = await startServerProcess({ SOUNDSTORM_MAX_CONTEXTS: String(nominal) });
const base: Omit<LoadOptions, "streams"> = {
  url: server.url, durationS: duration, rate: 0, rampS: 3, contextsPerSocket: 1,
  paragraphs: loadParagraphs(resolve(here, "../../../loadtest/texts.txt")), tokensPerS: 40, jitter: 0.3,
  jitterBufferMs: 100, cancelFraction: 0, turnTimeoutS: 120,
};
const progress = (label: string) => (p: { elapsedS: number; turns: number; ttfaP95: number; errors: number }) =>
  process.stderr.write(`\r${label} [${p.elapsedS.toFixed(0)} s] turns ${p.turns} p95 ${p.ttfaP95} ms errors ${p.errors}   `);
const atNominal = await runLoad({ ...base, streams: nominal }, progress("nominal"));
process.stderr.write("\n");
const atDouble = await runLoad({ ...base, streams: 2 * nominal }, progress("2x"));
process.stderr.write("\n");
await server.stop();
const out = {
  nominal_streams: nominal, capacity: nominal, duration_s: duration,
  nominal: { turns: atNominal.turns, ttfa_ms: atNominal.ttfa_ms, underruns: atNominal.underruns, errors: atNominal.errors_by_code },
  double: { turns: atDouble.turns, admitted: atDouble.turns - atDouble.refused, refused: atDouble.refused, ttfa_ms: atDouble.ttfa_ms, underruns: atDouble.underruns, errors: atDouble.errors_by_code },
  p95_ratio: Math.round((atDouble.ttfa_ms.p95 / Math.max(1, atNominal.ttfa_ms.p95)) * 100) / 100,
};
if (json) writeFileSync(json, JSON.stringify(out, null, 2) + "\n");
console.log(JSON.stringify(out, null, 2));
