/** Small seeded PRNG (mulberry32): reproducible sampling without global state. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard Gumbel noise. */
  gumbel(): number {
    const u = Math.min(Math.max(this.next(), 1e-12), 1 - 1e-12);
    return -Math.log(-Math.log(u));
  }
}
