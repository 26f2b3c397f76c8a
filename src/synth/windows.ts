/**
 * Acoustic generation in windows: each SoundStorm window is [voice prompt] + [tail of what this stream
 * already generated] + [new frames], and only the new frames are committed. Audio longer than a window
 * is generated window after window, each conditioned on the tail of the previous one. (The voice
 * prompt's states are cached per voice: a window's cost is its tail and new frames.)
 */
import { promptKey, type PromptTokens } from "../engine/prompt-cache.js";
import type { VoicePrompt } from "../models/manifest.js";
import type { AcousticGenerator, LoadShedding } from "../pipeline/acoustic/soundstorm.js";

/** What a stream carries from one window to the next (frame rate; acoustic row-major [frames, levels]). */
export interface WindowTail {
  semantic: Int32Array;
  acoustic: Int32Array;
  /** Frames generated so far in the stream (its start is 0 even when a model keeps no tail). */
  generated?: number;
}

export interface WindowOptions {
  readonly maxWindowFrames: number;
  readonly tailFrames: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly schedule?: readonly number[];
  readonly greedy?: boolean;
  readonly priority?: number;
  /** See AcousticRequest.shedding. */
  readonly shedding?: LoadShedding;
  /** At a stream's start (empty tail), the first window holds at most this many new frames... */
  readonly firstWindowFrames?: number;
  /** ...and mid-stream too when set (the listener is about to run out of audio). */
  readonly capFirstWindow?: boolean;
  /** Called with each window's codes before the next window starts (streaming within a chunk). */
  readonly onWindow?: (codes: Int32Array) => Promise<void>;
}

export interface WindowResult {
  /** Row-major [frames, levels] for the new frames. */
  readonly codes: Int32Array;
  readonly passes: number;
  /** Guided passes run without their unconditional twin. */
  readonly shedPasses: number;
  /** Levels left ungenerated, summed over the windows. */
  readonly shedLevels: number;
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

const promptMemo = new WeakMap<VoicePrompt, PromptTokens>();

/** A voice as the acoustic model's prompt: semantic tokens at the frame rate and a content key. */
export function promptTokensOf(voice: VoicePrompt, repeat: number): PromptTokens {
  const hit = promptMemo.get(voice);
  if (hit) return hit;
  const semantic = repeatTokens(voice.semantic, repeat).subarray(0, voice.frames);
  const made = { key: promptKey(semantic, voice.acoustic), semantic, acoustic: voice.acoustic };
  promptMemo.set(voice, made);
  return made;
}

/** Generate RVQ tokens for `semantic` (frame rate) after `tail`, updating `tail` in place. */
export async function generateInWindows(
  acoustic: AcousticGenerator, voice: PromptTokens, tail: WindowTail, semantic: Int32Array, o: WindowOptions,
): Promise<WindowResult> {
  const Q = acoustic.levels;
  const codes = new Int32Array(semantic.length * Q);
  let passes = 0;
  let shedPasses = 0;
  let shedLevels = 0;
  let windows = 0;
  for (let done = 0; done < semantic.length;) {
    const promptFrames = voice.semantic.length + tail.semantic.length;
    const room = o.maxWindowFrames - promptFrames;
    if (room <= 0) throw new Error(`voice prompt and tail (${promptFrames} frames) fill the whole window`);
    // equal windows rather than full ones plus a sliver: every window pays for its prompt
    const left = semantic.length - done;
    let n = Math.ceil(left / Math.ceil(left / room));
    const streamStart = (tail.generated ?? tail.semantic.length) === 0;
    if (o.firstWindowFrames && (streamStart || (o.capFirstWindow && done === 0))) n = Math.min(n, o.firstWindowFrames);
    const part = semantic.subarray(done, done + n);
    const res = await acoustic.generate({
      voice, tailSemantic: tail.semantic, tailAcoustic: tail.acoustic,
      semantic: part,
      seed: (o.seed + done) >>> 0,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.schedule ? { schedule: o.schedule } : {}),
      ...(o.greedy ? { greedy: true } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.shedding ? { shedding: o.shedding } : {}),
    });
    passes += res.passes;
    shedPasses += res.shedPasses;
    shedLevels += res.shedLevels;
    windows++;
    codes.set(res.acoustic, done * Q);
    if (o.onWindow) await o.onWindow(res.acoustic);
    // slice(-0) would keep everything: a tail of 0 frames is no tail
    tail.semantic = o.tailFrames > 0 ? concatI32(tail.semantic, part).slice(-o.tailFrames) : new Int32Array(0);
    tail.acoustic = o.tailFrames > 0 ? concatI32(tail.acoustic, res.acoustic).slice(-o.tailFrames * Q) : new Int32Array(0);
    tail.generated = (tail.generated ?? 0) + n;
    done += n;
  }
  return { codes, passes, shedPasses, shedLevels, windows };
}
