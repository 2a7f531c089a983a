/**
 * Login throttling policy, pure and in memory: after `maxFailures` failed sign-ins under one key
 * (an email, an IP) within `windowMs`, that key is locked for `lockoutMs`. Time comes from `now`, so
 * tests drive it with a fake clock. Per process: several server instances each count on their own.
 */
export interface LoginThrottleOptions {
  maxFailures: number;
  /** Failures older than this no longer count. */
  windowMs: number;
  lockoutMs: number;
  now: () => number;
  /** Bound on remembered keys, so a spray of random emails cannot grow memory without limit. */
  maxKeys?: number;
}

interface KeyState {
  /** Times of recent failures, oldest first, never more than maxFailures of them. */
  failures: number[];
  lockedUntil: number;
}

export class LoginThrottle {
  readonly #opts: Required<LoginThrottleOptions>;
  readonly #keys = new Map<string, KeyState>();

  constructor(opts: LoginThrottleOptions) {
    this.#opts = { maxKeys: 100_000, ...opts };
  }

  /** Milliseconds until the first of `keys` that is locked opens again, or 0 when none is locked. */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.#opts.now();
    let wait = 0;
    for (const key of keys) {
      const state = this.#keys.get(key);
      if (state && state.lockedUntil > now) wait = Math.max(wait, state.lockedUntil - now);
    }
    return wait;
  }

  /** Counts one failure against every key; a key reaching the limit is locked from now. */
  recordFailure(keys: readonly string[]): void {
    const now = this.#opts.now();
    for (const key of keys) {
      const state = this.#keys.get(key) ?? { failures: [], lockedUntil: 0 };
      state.failures = state.failures.filter((t) => t > now - this.#opts.windowMs);
      state.failures.push(now);
      if (state.failures.length >= this.#opts.maxFailures) {
        state.lockedUntil = now + this.#opts.lockoutMs;
        state.failures = [];
      }
      // Re-inserting keeps the map in least-recently-failed order for eviction.
      this.#keys.delete(key);
      this.#keys.set(key, state);
    }
    this.#evict(now);
  }

  /** Forgets a key's failures (and lock), as after a successful sign-in. */
  reset(key: string): void {
    this.#keys.delete(key);
  }

  /** Number of keys remembered (for tests and diagnostics). */
  get size(): number {
    return this.#keys.size;
  }

  #evict(now: number): void {
    if (this.#keys.size <= this.#opts.maxKeys) return;
    for (const [key, state] of this.#keys) {
      const idle = state.lockedUntil <= now && state.failures.every((t) => t <= now - this.#opts.windowMs);
      if (idle) this.#keys.delete(key);
    }
    // Still over: drop the least recently failed keys, down to 90% so the sweep above is not paid on
    // every failure. A lock may be lost this way, but only under a flood of distinct keys, where
    // bounded memory matters more than one account's lockout.
    const target = Math.floor(this.#opts.maxKeys * 0.9);
    for (const key of this.#keys.keys()) {
      if (this.#keys.size <= target) break;
      this.#keys.delete(key);
    }
  }
}
