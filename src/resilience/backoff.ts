import type { Rng } from './types.ts';

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
}

/**
 * "Full jitter" backoff [AWS Architecture Blog, Exponential Backoff and Jitter]: random(0, min(cap,
 * base × 2^(attempt−1))). Spreading retries over the whole interval, rather than around its end, is what
 * stops synchronised callers from hammering a recovering upstream in waves.
 *
 * `attempt` is 1-based: the first retry waits up to `baseMs`.
 */
export function fullJitter(attempt: number, opts: BackoffOptions, rng: Rng): number {
  const base = Math.max(0, opts.baseMs ?? 50);
  const cap = Math.max(0, opts.capMs ?? 2_000);
  const n = Math.max(1, Math.floor(Number.isFinite(attempt) ? attempt : 1));
  // 2 ** n overflows to Infinity for huge n, which min() turns into the cap: no special case needed.
  const ceiling = Math.min(cap, base * 2 ** (n - 1));
  return rng() * ceiling;
}
