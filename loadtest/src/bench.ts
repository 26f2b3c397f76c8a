/**
 * `npm run bench`: the streaming engine's numbers on this machine, over loopback, with flite timed
 * in the same run as the classical reference.
 *
 *  1. flite: wall time to synthesize each test paragraph's first sentence to a WAV (process start
 *     included, as a user calling it would pay); median.
 *  2. single stream at LLM pace: first audio at the client, from the moment the first phrase's last
 *     token was sent, p50/p95; real-time factor.
 *  3. N concurrent streams at LLM pace (default 16, starts staggered over --ramp s): underruns at
 *     the client's playout (100 ms jitter buffer), first audio p50/p95, errors.
 *  4. capacity with batching on and off: --streams streams, burst pacing, text sent at once;
 *     audio seconds generated per wall second. "Off" disables both kinds of batching: passes of
 *     different contexts in one model call, and merging a context's queued chunks.
 *  5. the most streams with zero underruns: N = --sweep values in order until one underruns.
 *
 * Every phase runs its own server process (`soundstorm serve`) on the model under test.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchArgs, checked, countListFlag, numberFlag, stringFlag, UsageError } from "./args.js";
import { runLoad, type LoadOptions, type LoadResult } from "./run.js";
import { diff, metricsUrl, readCounters, type ServerCounters } from "./server-metrics.js";
import { startServerProcess } from "./server-process.js";
import { loadParagraphs } from "./text.js";

const PHASES = ["single", "concurrent", "capacity", "sweep"];
const LATENCIES = ["low", "balanced", "quality"];
const USAGE = `usage: npm run bench -- [--model DIR] [--streams N] [--duration S] [--ramp S] [--single-duration S]
       [--capacity-duration S] [--sweep N,N,...] [--sweep-duration S] [--skip ${PHASES.join(",")}]
       [--tokens-per-s T] [--latency ${LATENCIES.join("|")}] [--json OUT]`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function firstSentence(p: string): string {
  return /^.*?[.!?](?=\s|$)/.exec(p)?.[0] ?? p;
}

/** flite's wall time (ms) for each text, median of `reps` runs each. */
function timeFlite(texts: string[], reps: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-flite-"));
  try {
    return texts.map((t) => median(Array.from({ length: reps }, () => {
      const t0 = performance.now();
      const r = spawnSync("flite", ["-voice", "slt", "-t", t, "-o", join(dir, "out.wav")]);
      if (r.status !== 0) throw new Error(`flite failed: ${r.stderr}`);
      return performance.now() - t0;
    })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Phase {
  readonly name: string;
  readonly streams: number;
  readonly result: LoadResult;
  readonly server: Record<string, string>;
  /** The server's own counts over the phase (chunks, guidance and levels shed); null if /metrics could not be read. */
  readonly counters: ServerCounters | null;
}

/** How early each chunk's first frame arrived before it was due at the client's playout, for the
 * second chunk of a turn (the tightest: the first chunk is short) and for later ones: min, p5, p50. */
function marginSummary(records: LoadResult["records"]) {
  const pick = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null);
    return { chunks: s.length, min: s.length ? s[0] : null, p5: at(0.05), p50: at(0.5) };
  };
  const second = records.flatMap((r) => (r.chunkMarginsMs ?? []).slice(0, 1));
  const later = records.flatMap((r) => (r.chunkMarginsMs ?? []).slice(1));
  return { second_chunk: pick(second), later_chunks: pick(later) };
}

function brief(r: LoadResult, c: ServerCounters | null = null) {
  return {
    ...(c ? { server_chunks: c.chunks, guidance_shed_passes: c.guidance_shed_passes, levels_shed: c.levels_shed } : {}),
    turns: r.turns, completed: r.completed, errors: r.errors, errors_by_code: r.errors_by_code, error_messages: r.error_messages, client_errors: r.client_errors, underruns: r.underruns,
    underrun_ms: r.underrun_ms, ttfa_p50_ms: r.ttfa_ms.p50, ttfa_p95_ms: r.ttfa_ms.p95, ttfa_max_ms: r.ttfa_ms.max,
    rtf: r.rtf, audio_seconds: r.audio_seconds, wall_s: r.duration_s,
    audio_per_wall_s: Math.round((100 * r.audio_seconds) / r.duration_s) / 100,
  };
}

async function main(): Promise<void> {
  const values = benchArgs(USAGE, {
    model: { type: "string" }, streams: { type: "string" }, duration: { type: "string" }, ramp: { type: "string" },
    "single-duration": { type: "string" }, "capacity-duration": { type: "string" }, sweep: { type: "string" },
    "sweep-duration": { type: "string" }, skip: { type: "string" }, "tokens-per-s": { type: "string" },
    latency: { type: "string" }, json: { type: "string" },
  });
  const flags = checked(USAGE, () => {
    const skip = new Set((stringFlag(values, "skip") ?? "").split(",").filter(Boolean));
    const unknown = [...skip].filter((p) => !PHASES.includes(p));
    if (unknown.length) throw new UsageError(`--skip takes ${PHASES.join(", ")}; got '${unknown.join(",")}'`);
    const latency = stringFlag(values, "latency") ?? "low";
    if (!LATENCIES.includes(latency)) throw new UsageError(`--latency must be one of ${LATENCIES.join(", ")}, got '${latency}'`);
    return {
      skip, latency: latency as LoadOptions["latency"],
      streams: numberFlag(values, "streams", 16, { min: 1, integer: true }),
      duration: numberFlag(values, "duration", 60, { min: 1 }),
      ramp: numberFlag(values, "ramp", 4),
      singleDuration: numberFlag(values, "single-duration", 40, { min: 1 }),
      capacityDuration: numberFlag(values, "capacity-duration", 40, { min: 1 }),
      sweep: countListFlag(values, "sweep", [8, 12, 16, 20, 24]),
      sweepDuration: numberFlag(values, "sweep-duration", 40, { min: 1 }),
      tokensPerS: numberFlag(values, "tokens-per-s", 40, { min: 1 }),
    };
  });
  const model = stringFlag(values, "model");
  const { skip } = flags;
  const here = resolve(new URL(".", import.meta.url).pathname);
  const paragraphs = loadParagraphs(resolve(here, "../../../loadtest/texts.txt"));
  const env: Record<string, string> = model ? { SOUNDSTORM_MODEL: resolve(model) } : {};
  const out: Record<string, unknown> = { date: new Date().toISOString(), model: model ?? "models/default", latency: flags.latency };
  const log = (m: string) => process.stderr.write(m + "\n");
  const base: Omit<LoadOptions, "url" | "streams" | "durationS"> = {
    rate: 0, rampS: 0, contextsPerSocket: 1, paragraphs, tokensPerS: flags.tokensPerS, jitter: 0.3,
    jitterBufferMs: 100, cancelFraction: 0, turnTimeoutS: 180, latency: flags.latency,
  };
  const phase = async (name: string, streams: number, o: Partial<LoadOptions>, serverEnv: Record<string, string> = {}): Promise<Phase> => {
    const srv = await startServerProcess({ ...env, ...serverEnv });
    try {
      log(`[${name}] ${streams} stream(s)...`);
      const url = metricsUrl(srv.url);
      const before = await readCounters(url);
      const result = await runLoad({ ...base, url: srv.url, streams, durationS: 30, ...o });
      const after = before ? await readCounters(url) : null;
      const counters = before && after ? diff(before, after) : null;
      log(`[${name}] ${JSON.stringify(brief(result, counters))}`);
      return { name, streams, result, server: serverEnv, counters };
    } finally {
      await srv.stop();
    }
  };

  // 1. flite, timed now so both sides see the same machine load
  const firsts = paragraphs.map(firstSentence);
  const flite = timeFlite(firsts, 3);
  out.flite = { first_sentence_ms_median: Math.round(median(flite)), first_sentence_ms: flite.map(Math.round), sentences: firsts.length };
  log(`[flite] first sentence median ${median(flite).toFixed(0)} ms`);

  if (!skip.has("single")) {
    // burst pacing: a turn ends when its audio is generated, so the run sees many first chunks
    const p = await phase("single", 1, { durationS: flags.singleDuration, pacing: "burst" });
    out.single = { ...brief(p.result, p.counters), ttfa_vs_flite: Math.round((100 * p.result.ttfa_ms.p50) / median(flite)) / 100 };
  }
  const n = flags.streams;
  if (!skip.has("concurrent")) {
    const p = await phase("concurrent", n, { durationS: flags.duration, rampS: flags.ramp });
    const margins = marginSummary(p.result.records);
    out.concurrent = {
      streams: n, ramp_s: flags.ramp, ...brief(p.result, p.counters), margins_ms: margins,
      turns_detail: p.result.records.map((r) => ({
        start_s: Math.round(r.startedMs / 100) / 10, ttfa_ms: r.ttfaMs === null ? null : Math.round(r.ttfaMs),
        underruns: r.underruns, ...(r.underrunsAt ? { underruns_at: r.underrunsAt } : {}), audio_s: r.audioS, chunks: r.chunks,
      })),
    };
    log(`[concurrent] chunk margins (how early a chunk's first frame arrived before due): ${JSON.stringify(margins)}`);
  }
  if (!skip.has("capacity")) {
    const cap = { durationS: flags.capacityDuration, pacing: "burst" as const, tokensPerS: 100_000, rampS: 1 };
    // both without load shedding: otherwise the two servers shed different shares of their passes, and the ratio
    // would measure that rather than batching
    const noShed = { SOUNDSTORM_SHED_GUIDANCE_QUEUED: "0", SOUNDSTORM_SHED_LEVELS_QUEUED: "0" };
    const on = await phase("capacity-batching-on", n, cap, noShed);
    const off = await phase("capacity-batching-off", n, cap, { ...noShed, SOUNDSTORM_BATCHING: "0", SOUNDSTORM_COALESCE: "0" });
    const tp = (p: Phase) => p.result.audio_seconds / p.result.duration_s;
    out.capacity = {
      streams: n, on: brief(on.result, on.counters), off: brief(off.result, off.counters), throughput_ratio: Math.round((100 * tp(on)) / tp(off)) / 100,
    };
  }
  if (!skip.has("sweep")) {
    const rows = [];
    let best = 0;
    for (const s of flags.sweep) {
      const p = await phase(`sweep-${s}`, s, { durationS: flags.sweepDuration, rampS: flags.ramp });
      rows.push({ streams: s, ...brief(p.result, p.counters) });
      if (p.result.underruns > 0 || p.result.errors > 0) break;
      best = s;
    }
    out.sweep = { max_streams_zero_underruns: best, rows };
  }
  const text = JSON.stringify(out, null, 2);
  const json = stringFlag(values, "json");
  if (json) writeFileSync(json, text + "\n");
  console.log(text);
}

main().catch((e) => { console.error(e); process.exit(1); });
