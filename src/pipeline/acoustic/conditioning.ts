/**
 * SoundStorm's per-frame conditioning ids. A model trained with phones (manifest
 * `soundstorm.phone_conditioning`) reads each frame as unit + offset x (symbol id + 1): the unit text to
 * semantic chose and the text symbol that frame belongs to. Frames without a symbol (voice prompts,
 * units read off audio) carry the bare unit, so they mean what they did to a model without phones.
 */
import type { ServingManifest } from "../../models/manifest.js";

/** units [frames] at the semantic rate; durations [phonemes] frames each phoneme got (summing to frames). */
export function conditioningIds(manifest: ServingManifest, units: Int32Array, phonemes: Int32Array, durations: Int32Array): Int32Array {
  const pc = manifest.soundstorm.phone_conditioning;
  if (!pc) return units;
  if (durations.length !== phonemes.length) throw new Error(`${durations.length} durations for ${phonemes.length} phonemes`);
  const out = Int32Array.from(units);
  let t = 0;
  for (let i = 0; i < phonemes.length; i++) {
    for (let j = 0; j < durations[i] && t < out.length; j++, t++) out[t] += pc.offset * (phonemes[i] + 1);
  }
  if (t !== out.length) throw new Error(`durations cover ${t} of ${out.length} frames`);
  return out;
}

/** The units of conditioning ids (for what needs the unit alone, e.g. the level-1 prior's rows). */
export function unitsOf(manifest: ServingManifest, ids: Int32Array): Int32Array {
  const pc = manifest.soundstorm.phone_conditioning;
  return pc ? ids.map((s) => s % pc.offset) : ids;
}
