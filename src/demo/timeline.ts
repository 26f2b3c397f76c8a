/**
 * The browser demo's bookkeeping that needs no browser: when the text that completed the first
 * chunk was sent, the playout clock of one context (jitter buffer, underruns), and which word is
 * being spoken at a given audio position. Pure, so Node tests cover it (test/browser-demo.test.ts).
 */

export interface TimedWord {
  readonly word: string;
  readonly start_ms: number;
  readonly end_ms: number;
  readonly char_offset: number;
}

/** UTF-16 offset just past the last word of a chunk (its words event). */
export function chunkEnd(words: readonly TimedWord[]): number {
  let end = 0;
  for (const w of words) end = Math.max(end, w.char_offset + w.word.length);
  return end;
}

/**
 * What the client sent to one context, and when (performance.now()). The server can cut a chunk
 * ending at offset E only once it has seen a character after E (the word might go on) or a
 * flush/end; the send that made that possible is the keystroke first-audio latency counts from.
 */
export class SendLog {
  private readonly sends: { kind: "append" | "flush" | "end"; length: number; at: number }[] = [];

  /** `length`: all text appended so far, after this send. */
  record(kind: "append" | "flush" | "end", length: number, at: number): void {
    this.sends.push({ kind, length, at });
  }

  /** When the chunk ending at `end` became complete; null if no send completed it. */
  completedAt(end: number): number | null {
    for (const s of this.sends) {
      if (s.kind === "append" ? s.length > end : s.length >= end) return s.at;
    }
    return null;
  }

  /** The last send at or before `t` (the fallback when a chunk's words are unknown). */
  lastBefore(t: number): number | null {
    let best: number | null = null;
    for (const s of this.sends) if (s.at <= t) best = s.at;
    return best;
  }
}

/**
 * Holds one utterance's audio while the utterance before it may still add audio (its own audio is scheduled
 * only as it arrives, so its end is not known before it is done): two voices never play over each other.
 */
export class PlayoutGate<T> {
  private held: T[] | null;

  /** `previous`: settles when the utterance before has scheduled all its audio (null: there is none). */
  constructor(previous: Promise<void> | null, private readonly release: (item: T) => void) {
    this.held = previous ? [] : null;
    void previous?.then(() => {
      const items = this.held ?? [];
      this.held = null;
      for (const x of items) this.release(x);
    });
  }

  push(item: T): void {
    if (this.held) this.held.push(item);
    else this.release(item);
  }
}

/**
 * The playout clock of one context, in the AudioContext's seconds. The context's audio sample 0
 * plays at `origin`, chosen when its first audio is scheduled: a jitter buffer after "now", and not
 * before the previous context ends. Audio that would start too late (an underrun) shifts the
 * origin by the stall, so the words, which are timed from sample 0, stay with the sound.
 */
export class PlayoutClock {
  origin: number | null = null;
  /** Seconds of audio scheduled so far. */
  scheduled = 0;
  underruns = 0;
  underrunMs = 0;

  constructor(private readonly jitterS: number, private readonly marginS = 0.01) {}

  /** When to start the next `durationS` of audio; `notBefore`: end of the previous context's audio. */
  schedule(now: number, durationS: number, notBefore = 0): number {
    if (this.origin === null) {
      this.origin = Math.max(now + this.jitterS, notBefore);
    } else {
      const start = this.origin + this.scheduled;
      if (start < now + this.marginS) {
        const stall = now + this.marginS - start;
        this.origin += stall;
        this.underruns++;
        this.underrunMs += stall * 1000;
      }
    }
    const start = this.origin + this.scheduled;
    this.scheduled += durationS;
    return start;
  }

  /** End of the audio scheduled so far (0 before any). */
  get end(): number {
    return this.origin === null ? 0 : this.origin + this.scheduled;
  }

  /** Milliseconds into the context's audio at time `now`; null before any audio was scheduled. */
  positionMs(now: number): number | null {
    return this.origin === null ? null : (now - this.origin) * 1000;
  }
}

/** Index of the word being spoken at `ms` (words sorted by start), or -1 between or outside words. */
export function wordIndexAt(words: readonly TimedWord[], ms: number): number {
  let lo = 0, hi = words.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (words[mid].start_ms <= ms) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found >= 0 && ms < words[found].end_ms ? found : -1;
}

/** Splits `text` into plain runs and the words (by char_offset) for rendering; words must not overlap. */
export function segments(text: string, words: readonly TimedWord[]): { text: string; word: number }[] {
  const out: { text: string; word: number }[] = [];
  const order = words.map((w, i) => ({ w, i })).sort((a, b) => a.w.char_offset - b.w.char_offset);
  let at = 0;
  for (const { w, i } of order) {
    if (w.char_offset < at || w.char_offset >= text.length) continue;
    if (w.char_offset > at) out.push({ text: text.slice(at, w.char_offset), word: -1 });
    const end = Math.min(text.length, w.char_offset + w.word.length);
    out.push({ text: text.slice(w.char_offset, end), word: i });
    at = end;
  }
  if (at < text.length) out.push({ text: text.slice(at), word: -1 });
  return out;
}
