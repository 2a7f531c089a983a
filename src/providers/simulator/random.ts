import { createHash } from 'node:crypto';

/**
 * Small seeded randomness for the simulator. Everything it decides must replay exactly from a seed (tests,
 * chaos drills, failover continuations), so nothing here touches Math.random.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Integer in [min, max]. */
  between(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** sfc32: fast, 128-bit state, passes PractRand far beyond what a simulator needs. */
function sfc32(a: number, b: number, c: number, d: number): Rng {
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Warm-up decorrelates nearby seeds (1, 2, 3…), which tests and configs use a lot.
  for (let i = 0; i < 12; i++) next();
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(items.length)] as T;
    },
    chance: (p) => next() < p,
  };
}

/** An Rng from a numeric seed (config `seed`). */
export function rngFromNumber(seed: number): Rng {
  // splitmix32 spreads one number over the four state words.
  let s = seed | 0;
  const mix = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  return sfc32(mix(), mix(), mix(), mix());
}

/** A stable hex digest of a list of strings (order and boundaries matter). */
export function digest(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\u0000');
  }
  return h.digest('hex');
}

/** FNV-1a over a string, from a given basis: cheap, and enough to spread labels over seed words. */
function fnv1a(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * An Rng for one named purpose under a seed (a hex digest), so independent decisions do not shift each
 * other. Labels are mixed in with FNV rather than another SHA-256: this runs per sentence per request.
 */
export function rngFor(seed: string, ...labels: Array<string | number>): Rng {
  const label = labels.join('\u0000');
  const word = (i: number): number =>
    fnv1a(label, Number.parseInt(seed.slice(i * 8, i * 8 + 8), 16) || i + 1);
  return sfc32(word(0), word(1), word(2), word(3));
}
