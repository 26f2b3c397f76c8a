/**
 * Time as a context sees it: its chunking deadlines, the listener's playback clock and pacing all read
 * `now()` and set timers through a Clock. The server runs on the system clock; an evaluation can run a
 * context on a ManualClock, whose time moves only when the driver advances it, so a streamed turn is cut
 * into the same chunks on every run whatever the machine's load.
 */
/** A timer's handle, only for giving back to the clock that made it. */
export type ClockTimer = object;

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  /** Run `fn` once, `ms` from now; a `weak` timer does not keep the process alive on its own. */
  setTimeout(fn: () => void, ms: number, weak?: boolean): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

/** When a listener who started playing at `startedAt` runs out of `samples` of audio (ms on the same clock):
 * the scheduler's priority for the next piece. Before any audio, `now`: due at once. */
export function playbackDeadline(startedAt: number | null, samples: number, sampleRate: number, now: number): number {
  return startedAt === null ? now : startedAt + (1000 * samples) / sampleRate;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms, weak = false) {
    const t = setTimeout(fn, ms);
    if (weak) t.unref();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

class ManualTimer {
  constructor(readonly at: number, readonly fn: () => void) {}
}

/**
 * Virtual time: starts at 0 and moves only in `advance`. Timers fall due in time order (equal times in
 * the order they were set); after each one the driver's `settle` runs, so the work a timer starts (a
 * chunk's synthesis) is finished before time moves on: work takes no virtual time.
 */
export class ManualClock implements Clock {
  private t = 0;
  /** Insertion order breaks ties between timers due at the same time. */
  private readonly timers = new Set<ManualTimer>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer = new ManualTimer(this.t + Math.max(0, ms), fn);
    this.timers.add(timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer): void {
    if (timer instanceof ManualTimer) this.timers.delete(timer);
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, running every timer due by then (including ones set by those timers),
   * each followed by `settle`. */
  async advance(ms: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    const end = this.t + ms;
    for (;;) {
      let next: ManualTimer | null = null;
      for (const d of this.timers) if (d.at <= end && (!next || d.at < next.at)) next = d;
      if (!next) break;
      this.timers.delete(next);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
  }
}
