/**
 * A small seeded PRNG (mulberry32). Its whole state is one 32-bit integer, so it can be saved with the
 * optimizer's weights and resumed exactly.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** The current state, to save and later restore with {@link SeededRandom.restore}. */
  save(): number {
    return this.state;
  }

  /** Returns to a state from {@link SeededRandom.save}. */
  restore(state: number): void {
    this.state = state >>> 0;
  }

  /** A bound `() => number` for APIs that take a random source. */
  get source(): () => number {
    return () => this.next();
  }
}

/**
 * A stream derived from (seed, ...keys), e.g. (seed, step): the same keys always give the same
 * numbers, so nothing about it needs to be saved (a checkpoint's step is enough to resume).
 */
export function derivedRandom(seed: number, ...keys: number[]): SeededRandom {
  let h = seed >>> 0;
  for (const k of [...keys, keys.length]) {
    // Mix each key into the state (murmur3's finalizer), so nearby steps give unrelated streams.
    h = Math.imul(h ^ (k >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return new SeededRandom(h);
}

/** A standard normal number from a uniform stream (Box–Muller; one draw of the pair is used). */
export function gaussian(random: () => number): number {
  const u1 = 1 - random(); // (0, 1]
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
