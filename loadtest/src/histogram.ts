/** HDR histograms (milliseconds, 3 significant digits) with the summary the reports use. */
import * as hdr from "hdr-histogram-js";

export type Hist = ReturnType<typeof hdr.build>;

export function newHist(): Hist {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export interface Summary { count: number; p50: number; p90: number; p95: number; p99: number; max: number; mean: number }

export function summarize(h: Hist): Summary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    count: h.totalCount, p50: r(h.getValueAtPercentile(50)), p90: r(h.getValueAtPercentile(90)),
    p95: r(h.getValueAtPercentile(95)), p99: r(h.getValueAtPercentile(99)), max: r(h.maxValue), mean: r(h.mean),
  };
}

/** Record a value in ms (HDR stores integers: microsecond-ish resolution is not needed here). */
export function record(h: Hist, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms)));
}
