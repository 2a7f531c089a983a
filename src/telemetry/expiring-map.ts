/**
 * A map with a size cap and an age limit, for per-request state held between two events that may never
 * both come (a request whose outcome is lost must not pin its attempts forever).
 *
 * Entries expire by the time they were first set; a Map iterates in insertion order, so the oldest is
 * always first and each sweep stops at the first live entry: O(1) amortised per write. The clock is
 * injected so expiry is tested without waiting.
 */
export class ExpiringMap<K, V> {
  readonly #entries = new Map<K, { at: number; value: V }>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Entries dropped for age or room, so a test or a log line can tell that state was lost. */
  evicted = 0;

  constructor(opts: { max: number; ttlMs: number; now: () => number }) {
    this.#max = opts.max;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (this.#now() - e.at > this.#ttlMs) {
      this.#entries.delete(key);
      this.evicted += 1;
      return undefined;
    }
    return e.value;
  }

  /** Sets a new key (keeping its first-set time if it exists). */
  set(key: K, value: V): void {
    const now = this.#now();
    const e = this.#entries.get(key);
    if (e) {
      e.value = value;
      return;
    }
    this.#sweep(now);
    if (this.#entries.size >= this.#max) this.#dropOldest();
    this.#entries.set(key, { at: now, value });
  }

  /** Removes and returns a live entry. */
  take(key: K): V | undefined {
    const v = this.get(key);
    if (v !== undefined) this.#entries.delete(key);
    return v;
  }

  #sweep(now: number): void {
    for (const [key, e] of this.#entries) {
      if (now - e.at <= this.#ttlMs) return;
      this.#entries.delete(key);
      this.evicted += 1;
    }
  }

  #dropOldest(): void {
    const first = this.#entries.keys().next();
    if (first.done) return;
    this.#entries.delete(first.value);
    this.evicted += 1;
  }
}
