/**
 * Streaming rational resampler (polyphase, Kaiser-windowed sinc low-pass):
 * out rate / in rate = up / down after reduction. push() may be called with
 * any block sizes; the output is the same as resampling the whole signal
 * (the filter's delay is removed, and flush() emits the tail).
 */
function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

function bessel0(x: number): number {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

export class Resampler {
  readonly up: number;
  readonly down: number;
  private readonly taps: Float32Array; // prototype filter at the upsampled rate
  private readonly half: number; // filter half-length in input samples
  private history: Float32Array;
  /** Next output index, in upsampled-rate units relative to history[0]. */
  private pos: number;
  private primed = false;

  constructor(readonly inRate: number, readonly outRate: number, zeroCrossings = 16) {
    const g = gcd(inRate, outRate);
    this.up = outRate / g;
    this.down = inRate / g;
    this.half = zeroCrossings;
    const cutoff = 0.92 * Math.min(1, this.up / this.down); // of the input Nyquist, scaled for decimation
    const n = 2 * zeroCrossings * this.up + 1;
    const beta = 8.6;
    this.taps = new Float32Array(n);
    const mid = (n - 1) / 2;
    for (let i = 0; i < n; i++) {
      const t = (i - mid) / this.up; // in input samples
      const sinc = t === 0 ? 1 : Math.sin(Math.PI * cutoff * t) / (Math.PI * cutoff * t);
      const r = (i - mid) / mid;
      this.taps[i] = cutoff * sinc * (bessel0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / bessel0(beta));
    }
    this.history = new Float32Array(0);
    this.pos = 0;
  }

  push(input: Float32Array): Float32Array {
    if (this.up === this.down) return input.slice();
    if (!this.primed) {
      // zero history before the signal, so output sample 0 lines up with input sample 0
      this.history = new Float32Array(this.half);
      this.pos = this.half * this.up;
      this.primed = true;
    }
    const h = new Float32Array(this.history.length + input.length);
    h.set(this.history);
    h.set(input, this.history.length);
    this.history = h;
    return this.drain(this.history.length - this.half);
  }

  /** Emit what the last `half` input samples still owe (with zeros after the end). */
  flush(): Float32Array {
    if (!this.primed || this.up === this.down) return new Float32Array(0);
    const h = new Float32Array(this.history.length + this.half);
    h.set(this.history);
    const end = this.history.length; // last real input sample index + 1
    this.history = h;
    return this.drain(end, true);
  }

  /** Produce outputs whose centre lies before input index `limit`. */
  private drain(limit: number, final = false): Float32Array {
    const out: number[] = [];
    const { up, down, taps, half } = this;
    const mid = (taps.length - 1) / 2;
    const h = this.history;
    while (this.pos < limit * up && (final || Math.floor(this.pos / up) + half < h.length)) {
      const centre = this.pos / up;
      const first = Math.ceil(centre - half);
      let acc = 0;
      for (let j = Math.max(0, first); j <= Math.min(h.length - 1, Math.floor(centre + half)); j++) {
        const k = Math.round((j - centre) * up + mid);
        if (k >= 0 && k < taps.length) acc += h[j] * taps[k];
      }
      out.push(acc);
      this.pos += down;
    }
    // drop input no longer needed
    const keepFrom = Math.max(0, Math.floor(this.pos / up) - half - 1);
    if (keepFrom > 0) {
      this.history = this.history.slice(keepFrom);
      this.pos -= keepFrom * up;
    }
    return Float32Array.from(out);
  }
}
