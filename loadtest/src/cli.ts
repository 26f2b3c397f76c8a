/** soundstorm-loadtest: thin CLI over runLoad(); prints a live progress line, writes JSON and HTML. */
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderHtml } from "./report-html.js";
import { runLoad, type LoadOptions } from "./run.js";
import { diff, metricsUrl, readCounters } from "./server-metrics.js";
import { loadParagraphs } from "./text.js";

const USAGE = `usage: soundstorm-loadtest --url WS_URL --streams N --duration S [--rate R] [--ramp S]
       [--contexts-per-socket K] [--text FILE] [--tokens-per-s T] [--jitter F] [--jitter-buffer MS]
       [--voice V] [--latency low|balanced|quality] [--cancel-fraction F] [--json OUT] [--report OUT.html]`;

const num = (v: string | undefined, d: number, name: string): number => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
};

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: {
      url: { type: "string" }, streams: { type: "string" }, duration: { type: "string" }, rate: { type: "string" },
      ramp: { type: "string" }, "contexts-per-socket": { type: "string" }, text: { type: "string" },
      "tokens-per-s": { type: "string" }, jitter: { type: "string" }, "jitter-buffer": { type: "string" },
      voice: { type: "string" }, latency: { type: "string" }, "cancel-fraction": { type: "string" },
      json: { type: "string" }, report: { type: "string" }, help: { type: "boolean" }, quiet: { type: "boolean" },
    } }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { console.log(USAGE); return 0; }
  if (!values.url || !values.duration) { console.error(`--url and --duration are required\n${USAGE}`); return 2; }
  const here = dirname(fileURLToPath(import.meta.url));
  const textFile = values.text ?? resolve(here, "../../../loadtest/texts.txt");
  const latency = values.latency as LoadOptions["latency"];
  if (latency && !["low", "balanced", "quality"].includes(latency)) { console.error("--latency must be low, balanced or quality"); return 2; }
  let opts: LoadOptions;
  try {
    opts = options(values, textFile, latency);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const mUrl = metricsUrl(opts.url);
  const before = await readCounters(mUrl);
  const result = await runLoad(opts, (p) => {
    if (values.quiet) return;
    process.stderr.write(`\r[${p.elapsedS.toFixed(0).padStart(4)} s] active ${String(p.active).padStart(3)}  turns ${String(p.turns).padStart(5)}  first audio p50 ${p.ttfaP50.toFixed(0).padStart(5)} ms  p95 ${p.ttfaP95.toFixed(0).padStart(5)} ms  underruns ${p.underruns}  errors ${p.errors}   `);
  });
  if (!values.quiet) process.stderr.write("\n");
  const after = before ? await readCounters(mUrl) : null;
  const { records: _r, gap_samples: _g, ...summary } = result;
  const server = before && after ? diff(before, after) : null;
  const out = {
    ...summary,
    ...(server ? {
      server,
      server_matches: {
        turns: server.contexts === result.turns - result.refused,
        audio_seconds: Math.abs(server.audio_seconds - result.audio_seconds) < 0.01 + 1e-4 * result.audio_seconds,
        errors: server.errors === result.errors,
      },
    } : {}),
  };
  const text = JSON.stringify(out, null, 2);
  if (values.json) writeFileSync(values.json, text + "\n");
  console.log(text);
  if (values.report) {
    writeFileSync(values.report, renderHtml(result, {
      url: opts.url, streams: opts.streams, rate: opts.rate, duration_s: opts.durationS, contexts_per_socket: opts.contextsPerSocket,
      tokens_per_s: opts.tokensPerS, jitter_buffer_ms: opts.jitterBufferMs, date: new Date().toISOString(),
    }));
  }
  // a run in which no turn completed measured nothing: say so in the exit code
  if (result.completed === 0) { console.error("soundstorm-loadtest: no turn completed"); return 1; }
  return 0;
}

/** The run's options from the flags; throws (a usage error) on a bad value. */
function options(values: Record<string, string | boolean | undefined>, textFile: string, latency: LoadOptions["latency"] | undefined): LoadOptions {
  const s = (k: string) => values[k] as string | undefined;
  const url = s("url")!;
  let proto = "";
  try { proto = new URL(url).protocol; } catch { /* reported below */ }
  if (proto !== "ws:" && proto !== "wss:") throw new Error(`--url must be a ws:// or wss:// URL, got '${url}'`);
  const tokensPerS = num(s("tokens-per-s"), 40, "tokens-per-s");
  if (!(tokensPerS > 0)) throw new Error("--tokens-per-s must be above 0");
  return {
    url, streams: num(s("streams"), 1, "streams"), durationS: num(s("duration"), 10, "duration"),
    rate: num(s("rate"), 0, "rate"), rampS: num(s("ramp"), 0, "ramp"),
    contextsPerSocket: Math.max(1, num(s("contexts-per-socket"), 1, "contexts-per-socket")),
    paragraphs: loadParagraphs(textFile), tokensPerS,
    jitter: num(s("jitter"), 0.3, "jitter"), jitterBufferMs: num(s("jitter-buffer"), 100, "jitter-buffer"),
    cancelFraction: num(s("cancel-fraction"), 0, "cancel-fraction"), turnTimeoutS: 120,
    ...(s("voice") ? { voice: s("voice")! } : {}), ...(latency ? { latency } : {}),
  };
}
