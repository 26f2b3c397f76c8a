/**
 * Acoustic generation in windows: each SoundStorm window is [voice prompt] + [tail of what this stream
 * already generated] + [new frames], and only the new frames are committed. Audio longer than a window
 * is generated window after window, each conditioned on the tail of the previous one.
 */
import type { VoicePrompt } from "../models/manifest.js";
import type { AcousticGenerator } from "../pipeline/acoustic/soundstorm.js";

/** What a stream carries from one window to the next (frame rate; acoustic row-major [frames, levels]). */
export interface WindowTail {
  semantic: Int32Array;
  acoustic: Int32Array;
}

export interface WindowOptions {
  readonly maxWindowFrames: number;
  readonly tailFrames: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly schedule?: readonly number[];
  readonly greedy?: boolean;
  readonly priority?: number;
  /** At a stream's start (empty tail), the first window holds at most this many new frames... */
  readonly firstWindowFrames?: number;
  /** ...and is conditioned on only the last this-many frames of the voice prompt (a shorter window
   * for the first audio; the next window has the whole prompt and this one as its tail). */
  readonly firstWindowPromptFrames?: number;
  /** Called with each window's codes before the next window starts (streaming within a chunk). */
  readonly onWindow?: (codes: Int32Array) => Promise<void>;
}

export interface WindowResult {
  /** Row-major [frames, levels] for the new frames. */
  readonly codes: Int32Array;
  readonly passes: number;
  readonly windows: number;
}

export function repeatTokens(tokens: Int32Array, repeat: number): Int32Array {
  const out = new Int32Array(tokens.length * repeat);
  for (let i = 0; i < tokens.length; i++) out.fill(tokens[i], i * repeat, (i + 1) * repeat);
  return out;
}

export function concatI32(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Generate RVQ tokens for `semantic` (frame rate) after `tail`, updating `tail` in place.
 * `voiceSemantic` is the voice prompt's semantic tokens at the frame rate.
 */
export async function generateInWindows(
  acoustic: AcousticGenerator, voice: VoicePrompt, voiceSemantic: Int32Array, tail: WindowTail,
  semantic: Int32Array, o: WindowOptions,
): Promise<WindowResult> {
  const Q = acoustic.levels;
  const codes = new Int32Array(semantic.length * Q);
  let passes = 0;
  let windows = 0;
  for (let done = 0; done < semantic.length;) {
    // the stream's first window may take only the end of the voice prompt (time to first audio)
    const first = tail.semantic.length === 0 && done === 0 && o.firstWindowFrames && o.firstWindowPromptFrames;
    const k = first ? Math.min(voice.frames, o.firstWindowPromptFrames!) : voice.frames;
    const vSem = voiceSemantic.subarray(voice.frames - k);
    const vAc = voice.acoustic.subarray((voice.frames - k) * Q);
    const promptFrames = k + tail.semantic.length;
    const room = o.maxWindowFrames - promptFrames;
    if (room <= 0) throw new Error(`voice prompt and tail (${promptFrames} frames) fill the whole window`);
    // equal windows rather than full ones plus a sliver: every window pays for its prompt
    const left = semantic.length - done;
    let n = Math.ceil(left / Math.ceil(left / room));
    if (o.firstWindowFrames && tail.semantic.length === 0) n = Math.min(n, o.firstWindowFrames);
    const part = semantic.subarray(done, done + n);
    const res = await acoustic.generate({
      promptSemantic: concatI32(vSem, tail.semantic),
      promptAcoustic: concatI32(vAc, tail.acoustic),
      semantic: part,
      seed: (o.seed + done) >>> 0,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.greedy ? { greedy: true } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
    });
    passes += res.passes;
    windows++;
    codes.set(res.acoustic, done * Q);
    if (o.onWindow) await o.onWindow(res.acoustic);
    tail.semantic = concatI32(tail.semantic, part).slice(-o.tailFrames);
    tail.acoustic = concatI32(tail.acoustic, res.acoustic).slice(-o.tailFrames * Q);
    done += n;
  }
  return { codes, passes, windows };
}
