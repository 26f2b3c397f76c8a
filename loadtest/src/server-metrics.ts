/** Reads the server's Prometheus counters, to check what the load tester saw against what the server counted. */
export interface ServerCounters {
  audio_seconds: number;
  contexts: number;
  errors: number;
  chunks: number;
  /** Guided SoundStorm passes the server ran without their unconditional twin (load shedding). */
  guidance_shed_passes: number;
  /** RVQ levels the server's SoundStorm windows left ungenerated (load shedding, second step). */
  levels_shed: number;
}

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
    return {
      audio_seconds: sum(body, "soundstorm_audio_seconds_total"),
      contexts: sum(body, "soundstorm_contexts_total"),
      errors: sum(body, "soundstorm_errors_total"),
      chunks: sum(body, "soundstorm_chunks_total"),
      guidance_shed_passes: sum(body, "soundstorm_guidance_shed_passes_total"),
      levels_shed: sum(body, "soundstorm_levels_shed_total"),
    };
  } catch {
    return null;
  }
}

export function diff(a: ServerCounters, b: ServerCounters): ServerCounters {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    audio_seconds: r(b.audio_seconds - a.audio_seconds), contexts: r(b.contexts - a.contexts), errors: r(b.errors - a.errors),
    chunks: r(b.chunks - a.chunks), guidance_shed_passes: r(b.guidance_shed_passes - a.guidance_shed_passes),
    levels_shed: r(b.levels_shed - a.levels_shed),
  };
}
