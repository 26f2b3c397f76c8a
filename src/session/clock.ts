/**
 * Time as a context sees it: its chunking deadlines, the listener's playback clock and pacing all read
 * `now()` and set timers through a Clock. The server runs on the system clock; an evaluation can run a
 * context on a ManualClock, whose time moves only when the driver advances it, so a streamed turn is cut
 * into the same chunks on every run whatever the machine's load.
 */
export type ClockTimer = { readonly id: number } | NodeJS.Timeout;

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  /** Run `fn` once, `ms` from now; a `weak` timer does not keep the process alive on its own. */
  setTimeout(fn: () => void, ms: number, weak?: boolean): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
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

interface Due { readonly id: number; readonly at: number; readonly fn: () => void }

/**
 * Virtual time: starts at 0 and moves only in `advance`. Timers fall due in time order (equal times in
 * the order they were set); after each one the driver's `settle` runs, so the work a timer starts (a
 * chunk's synthesis) is finished before time moves on: work takes no virtual time.
 */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Due>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(timer: ClockTimer): void {
    if ("id" in timer && typeof timer.id === "number") this.timers.delete(timer.id);
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
      let next: Due | null = null;
      for (const d of this.timers.values()) if (d.at <= end && (!next || d.at < next.at)) next = d;
      if (!next) break;
      this.timers.delete(next.id);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
  }
}
