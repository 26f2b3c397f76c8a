/**
 * Sends one context's outgoing messages in order, keeping audio no more than
 * `leadMs` ahead of real time (burst mode: as fast as produced). Non-audio
 * messages take no time but keep their place in the order. When generation
 * falls behind (the queue runs dry past a frame's play time), the clock shifts
 * by the lateness, as the client's playback stalls by as much.
 */
import { systemClock, type Clock, type ClockTimer } from "./clock.js";

export interface PacedItem {
  readonly audio: boolean;
  readonly send: () => void;
}

export class Pacer {
  private readonly queue: PacedItem[] = [];
  private playStart: number | null = null;
  private framesSent = 0;
  private timer: ClockTimer | null = null;
  private waiters: (() => void)[] = [];
  private cleared = false;
  /** Audio items in the queue. */
  private queuedAudio = 0;

  constructor(private readonly leadMs: number, private readonly frameMs: number, private readonly burst: boolean,
    private readonly clock: Clock = systemClock) {}

  push(item: PacedItem): void {
    if (this.cleared) return;
    this.queue.push(item);
    if (item.audio) this.queuedAudio++;
    if (!this.timer) this.pump();
  }

  /** Resolves when everything queued so far has been sent (or the pacer was cleared). */
  drained(): Promise<void> {
    if (this.queue.length === 0 || this.cleared) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Drop everything not yet sent (cancel, disconnect). */
  clear(): void {
    this.cleared = true;
    this.queue.length = 0;
    this.queuedAudio = 0;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.release();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Audio queued and not yet sent, in ms of playback. */
  get queuedMs(): number {
    return this.queuedAudio * this.frameMs;
  }

  private pump(): void {
    this.timer = null;
    while (this.queue.length > 0) {
      const item = this.queue[0];
      if (item.audio && !this.burst) {
        const t = this.clock.now();
        if (this.playStart === null) this.playStart = t;
        const playAt = this.playStart + this.framesSent * this.frameMs;
        const due = playAt - this.leadMs;
        if (t < due) {
          this.timer = this.clock.setTimeout(() => this.pump(), Math.max(1, due - t));
          return;
        }
        if (t > playAt) this.playStart += t - playAt;
        this.framesSent++;
      }
      this.queue.shift();
      if (item.audio) this.queuedAudio--;
      item.send();
    }
    this.release();
  }

  private release(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
