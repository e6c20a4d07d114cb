/**
 * A small deterministic PRNG (sfc32 seeded through splitmix32) so that generated models are byte-identical
 * on every run, machine and Node version: only 32-bit integer arithmetic and exact float scaling, no Math.random,
 * no transcendental functions.
 */

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** sfc32 */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 24 random bits (exactly representable in float32). */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /**
   * Fills `out` with uniform values of mean 0 and standard deviation `std` (range ±std·√3), the same spread as
   * BERT's truncated-normal initialiser.
   */
  fillUniform(out: Float32Array, std: number): Float32Array {
    const a = std * Math.sqrt(3);
    for (let i = 0; i < out.length; i++) out[i] = (this.nextFloat() * 2 - 1) * a;
    return out;
  }
}
