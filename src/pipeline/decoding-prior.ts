/**
 * A decoding prior (manifest text_to_semantic.unit_prior, soundstorm.level1_prior): a table of
 * log-probabilities, one row per conditioning token, added at a weight to a model's logits before the
 * pick. Both stages that have one use it the same way; only which row each frame takes differs.
 */

/** A prior's table already times its weight, so decoding adds it as is; null when there is no table or the weight is 0. */
export function weightedPrior(table: Float32Array | null, weight = 0): Float32Array | null {
  return table && weight > 0 ? table.map((x) => weight * x) : null;
}

/** Adds to frame i's logits (`width` of them, row-major from 0) the prior's row `rows[i]`, for every i of `rows`. */
export function addPriorRows(logits: Float32Array, prior: Float32Array, rows: ArrayLike<number>, width: number): void {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] * width;
    const at = i * width;
    for (let k = 0; k < width; k++) logits[at + k] += prior[row + k];
  }
}
