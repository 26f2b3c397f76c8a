/** Self-contained HTML report with inline SVG plots: latency CDFs, first-audio latency over time, concurrency against p95. */
import type { LoadResult, TurnRecord } from "./run.js";

interface Series { name: string; color: string; points: [number, number][]; dots?: boolean }

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]!));

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function chart(title: string, xLabel: string, yLabel: string, series: Series[], yMaxHint?: number): string {
  const W = 640, H = 320, L = 60, R = 20, T = 30, B = 45;
  const all = series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(1e-9, ...all.map((p) => p[0])));
  const yMax = yMaxHint ?? niceMax(Math.max(1e-9, ...all.map((p) => p[1])));
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const y = (v: number) => H - B - (v / yMax) * (H - T - B);
  const grid: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const xv = (xMax * i) / 5, yv = (yMax * i) / 5;
    grid.push(`<line x1="${x(xv)}" y1="${T}" x2="${x(xv)}" y2="${H - B}" stroke="#eee"/><text x="${x(xv)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${+xv.toFixed(2)}</text>`);
    grid.push(`<line x1="${L}" y1="${y(yv)}" x2="${W - R}" y2="${y(yv)}" stroke="#eee"/><text x="${L - 6}" y="${y(yv) + 4}" font-size="11" text-anchor="end">${+yv.toFixed(2)}</text>`);
  }
  const body = series.map((s) => s.dots
    ? s.points.map((p) => `<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="2.5" fill="${s.color}" opacity="0.7"/>`).join("")
    : `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ")}"/>`).join("");
  const legend = series.map((s, i) => `<rect x="${L + 10 + i * 290}" y="8" width="12" height="12" fill="${s.color}"/><text x="${L + 26 + i * 290}" y="18" font-size="12">${esc(s.name)}</text>`).join("");
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">
${grid.join("")}<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
${body}${legend}<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>
<text x="14" y="${(T + H - B) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(yLabel)}</text></svg></figure>`;
}

/** Empirical CDF, thinned to at most `maxPoints` points so the page stays small. */
function cdf(values: number[], maxPoints = 400): [number, number][] {
  const v = [...values].sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(v.length / maxPoints));
  const out: [number, number][] = [];
  for (let i = 0; i < v.length; i += step) out.push([v[i], (i + 1) / v.length]);
  if (v.length && out[out.length - 1][1] !== 1) out.push([v[v.length - 1], 1]);
  return out;
}

export function p95(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  // nearest rank, as the JSON summary's histogram reads it (with few turns, the largest)
  return s[Math.max(0, Math.ceil(0.95 * s.length) - 1)] ?? 0;
}

export function renderHtml(r: LoadResult, meta: Record<string, unknown>): string {
  const gaps = r.gap_samples;
  const recs: TurnRecord[] = r.records;
  const client = recs.filter((x) => x.ttfaMs !== null).map((x) => x.ttfaMs!);
  const server = recs.filter((x) => x.ttfaServerMs !== null).map((x) => x.ttfaServerMs!);
  const byConc = new Map<number, number[]>();
  for (const x of recs) if (x.ttfaMs !== null) byConc.set(x.concurrency, [...(byConc.get(x.concurrency) ?? []), x.ttfaMs]);
  const concPts = [...byConc.entries()].sort((a, b) => a[0] - b[0]).map(([c, v]) => [c, p95(v)] as [number, number]);
  const rows = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === "object" ? JSON.stringify(v) : String(v))}</td></tr>`).join("");
  const { records: _r, gap_samples: _g, ...summary } = r;
  return `<!doctype html><html><head><meta charset="utf-8"><title>soundstorm load test</title>
<style>body{font-family:sans-serif;max-width:1340px;margin:20px auto;color:#222}figure{display:inline-block;margin:10px}figcaption{font-weight:bold;margin-bottom:4px}table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}</style></head><body>
<h1>soundstorm load test</h1><table>${rows(meta)}</table><h2>Summary</h2><table>${rows(summary)}</table><h2>Plots</h2>
${chart("Latency CDFs: time to first audio", "milliseconds", "fraction of turns", [
    { name: "client (first chunk's text all sent to its first frame)", color: "#1f77b4", points: cdf(client) },
    { name: "server", color: "#ff7f0e", points: cdf(server) },
  ], 1)}
${chart("Latency CDF: inter-frame gap (up to p99.9)", "milliseconds", "fraction of gaps", [
    { name: "gap between audio frames", color: "#2ca02c", points: cdf(gaps).filter((p) => p[1] <= 0.999) },
  ], 1)}
${chart("First-audio latency over time", "seconds since start", "ms (client)", [
    { name: "turn", color: "#1f77b4", points: recs.filter((x) => x.ttfaMs !== null).map((x) => [x.startedMs / 1000, x.ttfaMs!]), dots: true },
  ])}
${chart("Concurrency against first-audio p95", "concurrent turns at start", "p95 ms (client)", [
    { name: "p95", color: "#d62728", points: concPts },
    { name: "", color: "#d62728", points: concPts, dots: true },
  ])}
</body></html>\n`;
}
