/**
 * Client-side playout simulation: frames are "played" 20 ms each from the arrival of the first
 * frame plus a jitter buffer; a frame that arrives after its play time is an underrun, and
 * playback stalls until it arrives (the clock shifts by the stall).
 */
export class Playout {
  private start: number | null = null;
  private stall = 0;
  private frames = 0;
  private lastArrival: number | null = null;
  underruns = 0;
  underrunMs = 0;
  readonly gaps: number[] = [];

  constructor(private readonly bufferMs: number, private readonly frameMs = 20) {}

  /** A frame arrived at time `now` (ms). */
  arrive(now: number): void {
    if (this.lastArrival !== null) this.gaps.push(now - this.lastArrival);
    this.lastArrival = now;
    if (this.start === null) {
      this.start = now + this.bufferMs;
    } else {
      const due = this.start + this.stall + this.frames * this.frameMs;
      if (now > due) {
        this.underruns++;
        this.underrunMs += now - due;
        this.stall += now - due;
      }
    }
    this.frames++;
  }
}
