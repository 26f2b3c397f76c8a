/**
 * Semantic units of real audio (voice prompts, uploaded voices, evaluation): the semantic tokenizer graph,
 * then, when the model set was trained on smoothed units (manifest semantic.switch_penalty > 0), the unit
 * path that minimises the summed centroid distances plus the penalty for every change of unit (a Viterbi
 * pass over the graph's per-frame distances). Frame-to-frame flicker between neighbouring units then
 * disappears, as in the tokens SoundStorm was trained on (`sstrain.tokens --switch-penalty`).
 */
import type { Manifest } from "../../models/manifest.js";
import type { GraphRunner } from "../../models/ort.js";

/**
 * The path u[0..T) minimising sum_t dist[t, u_t] + penalty x #{t : u_t != u_(t-1)}. `dist` is row-major
 * [frames, vocab]. Ties keep the current unit, and the last frame takes the lowest index among equal
 * costs, as the Python reference (sstrain.semantic.model.units_with_switch_penalty) does, so both give the
 * same units. O(frames x vocab): the penalty is the same for every change, so the best predecessor of a
 * unit is either itself or the cheapest unit of the frame before.
 */
export function unitsWithSwitchPenalty(dist: ArrayLike<number>, frames: number, vocab: number, penalty: number): Int32Array {
  if (dist.length !== frames * vocab) throw new Error(`distances hold ${dist.length} values, expected ${frames} x ${vocab}`);
  const units = new Int32Array(frames);
  if (frames === 0) return units;
  let cost = new Float64Array(vocab), next = new Float64Array(vocab);
  const back = new Int32Array(frames * vocab);
  for (let k = 0; k < vocab; k++) cost[k] = dist[k];
  for (let t = 1; t < frames; t++) {
    let j = 0;
    for (let k = 1; k < vocab; k++) if (cost[k] < cost[j]) j = k;
    const move = cost[j] + penalty;
    for (let k = 0; k < vocab; k++) {
      const stay = !(move < cost[k]);   // a tie keeps the unit
      back[t * vocab + k] = stay ? k : j;
      next[k] = (stay ? cost[k] : move) + dist[t * vocab + k];
    }
    [cost, next] = [next, cost];
  }
  let u = 0;
  for (let k = 1; k < vocab; k++) if (cost[k] < cost[u]) u = k;
  units[frames - 1] = u;
  for (let t = frames - 1; t > 0; t--) units[t - 1] = u = back[t * vocab + u];
  return units;
}

/** Units of mono PCM at the model's sample rate (any length: the graph pads to whole frames). */
export async function unitsOfAudio(graph: GraphRunner, m: Manifest, pcm: Float32Array): Promise<Int32Array> {
  const r = await graph.run({ audio: { data: pcm, dims: [1, pcm.length] } });
  const penalty = m.semantic?.switch_penalty ?? 0;
  if (penalty > 0) {
    const d = r.distances;   // the manifest check guarantees the graph has this output when a penalty is set
    const [, frames, vocab] = d.dims;
    return unitsWithSwitchPenalty(d.data as Float32Array, frames, vocab, penalty);
  }
  return Int32Array.from(r.units.data as BigInt64Array, Number);
}
