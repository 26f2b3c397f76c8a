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
  private chunk = -1;
  underruns = 0;
  underrunMs = 0;
  readonly gaps: number[] = [];
  /** Where each underrun happened: the chunk (0-based, counted by chunk-start frames) and the audio
   * position in the turn (ms), to tell turn-start stalls from later ones. */
  readonly underrunsAt: { chunk: number; audioMs: number; ms: number }[] = [];
  /** Per chunk, how early its first frame arrived before its play time (ms; negative: late). */
  readonly chunkMarginsMs: number[] = [];

  constructor(private readonly bufferMs: number, private readonly frameMs = 20) {}

  /** A frame arrived at time `now` (ms); `chunkStart`: it is the first frame of a chunk. */
  arrive(now: number, chunkStart = false): void {
    if (this.lastArrival !== null) this.gaps.push(now - this.lastArrival);
    this.lastArrival = now;
    if (chunkStart || this.chunk < 0) this.chunk++;
    if (this.start === null) {
      this.start = now + this.bufferMs;
      this.chunkMarginsMs.push(this.bufferMs);
    } else {
      const due = this.start + this.stall + this.frames * this.frameMs;
      if (chunkStart) this.chunkMarginsMs.push(due - now);
      if (now > due) {
        this.underruns++;
        this.underrunMs += now - due;
        this.stall += now - due;
        this.underrunsAt.push({ chunk: this.chunk, audioMs: this.frames * this.frameMs, ms: Math.round(now - due) });
      }
    }
    this.frames++;
  }
}
