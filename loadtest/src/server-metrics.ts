/** Reads the server's Prometheus counters, to check what the load tester saw against what the server counted. */

/** Each count the load tester reads, and the server's counter it sums (over all label sets). */
const COUNTERS = {
  audio_seconds: "soundstorm_audio_seconds_total",
  contexts: "soundstorm_contexts_total",
  errors: "soundstorm_errors_total",
  chunks: "soundstorm_chunks_total",
  /** Guided SoundStorm passes the server ran without their unconditional twin (load shedding). */
  guidance_shed_passes: "soundstorm_guidance_shed_passes_total",
  /** RVQ levels the server's SoundStorm windows left ungenerated (load shedding, second step). */
  levels_shed: "soundstorm_levels_shed_total",
} as const;

export type ServerCounters = Record<keyof typeof COUNTERS, number>;

const names = Object.keys(COUNTERS) as (keyof typeof COUNTERS)[];

function sum(body: string, name: string): number {
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m && m[1] === name) total += Number(m[3]);
  }
  return total;
}

export function metricsUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = "/metrics";
  u.search = "";
  return u.toString();
}

export async function readCounters(url: string): Promise<ServerCounters | null> {
  try {
    const res = await fetch(url);
    if (!res.ok) return null;
    const body = await res.text();
    return Object.fromEntries(names.map((k) => [k, sum(body, COUNTERS[k])])) as ServerCounters;
  } catch {
    return null;
  }
}

export function diff(a: ServerCounters, b: ServerCounters): ServerCounters {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return Object.fromEntries(names.map((k) => [k, r(b[k] - a[k])])) as ServerCounters;
}
