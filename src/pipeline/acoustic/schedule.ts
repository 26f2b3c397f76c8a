/** MaskGIT cosine schedule and per-step annealing, as in the SoundStorm paper. */

/** Cells of n still masked after step i (0-based) of s: floor(n * cos(pi/2 * (i+1)/s)). Zero after the last step. */
export function maskedAfterStep(n: number, i: number, s: number): number {
  if (i >= s - 1) return 0;
  return Math.floor(n * Math.cos((Math.PI / 2) * (i + 1) / s));
}

/** Sampling temperature for step i of s, annealed downwards from start to end. */
export function temperatureAt(i: number, s: number, start: number, end: number): number {
  if (s <= 1) return end;
  return start + (end - start) * (i / (s - 1));
}

/** Gumbel noise scale for step i of s: scale * (1 - progress), progress = i / s. */
export function noiseAt(i: number, s: number, scale: number): number {
  return scale * (1 - i / s);
}
