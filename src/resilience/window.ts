import type { Clock } from './types.ts';

/**
 * A count over the last `windowMs`, kept in fixed buckets so memory and cost stay constant however busy
 * the traffic. The window slides one bucket at a time, so it covers between (buckets − 1) and buckets
 * bucket-widths of history; the budgets that use it only need "roughly the last ten seconds".
 */
export class WindowCounter {
  readonly #clock: Clock;
  readonly #bucketMs: number;
  readonly #counts: number[];
  #epoch: number;

  constructor(windowMs: number, clock: Clock, buckets = 10) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs))
      throw new RangeError(`windowMs must be > 0, got ${windowMs}`);
    const n = Math.max(1, Math.floor(buckets));
    this.#clock = clock;
    this.#bucketMs = windowMs / n;
    this.#counts = new Array<number>(n).fill(0);
    this.#epoch = this.#index();
  }

  add(n = 1): void {
    this.#advance();
    this.#counts[this.#slot(this.#epoch)]! += n;
  }

  total(): number {
    this.#advance();
    let sum = 0;
    for (const c of this.#counts) sum += c;
    return sum;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#epoch = this.#index();
  }

  #index(): number {
    return Math.floor(this.#clock.now() / this.#bucketMs);
  }

  #slot(index: number): number {
    const len = this.#counts.length;
    return ((index % len) + len) % len;
  }

  #advance(): void {
    const index = this.#index();
    // A clock that steps backwards (it should not, but tests and VMs do odd things) keeps the current bucket.
    if (index <= this.#epoch) return;
    const steps = Math.min(this.#counts.length, index - this.#epoch);
    for (let i = 1; i <= steps; i++) this.#counts[this.#slot(this.#epoch + i)] = 0;
    this.#epoch = index;
  }
}
