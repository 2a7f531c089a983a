import type { Clock } from './types.ts';
import { WindowCounter } from './window.ts';

export interface RetryBudgetOptions {
  /** Retries may add at most this share of the requests seen in the window. */
  ratio?: number;
  /** Extra allowance on top of the ratio, so a quiet gateway can still retry [Linkerd minRetriesPerSecond]. */
  minRetriesPerSec?: number;
  /** This many concurrent retries are always allowed, whatever the ratio says [Envoy min_retry_concurrency]. */
  minConcurrent?: number;
  windowMs?: number;
}

export interface RetryBudgetStats {
  requests: number;
  retries: number;
  active: number;
}

/**
 * Caps retries as a share of recent traffic [Envoy retry budgets, Linkerd]. A per-request attempt limit
 * alone multiplies load by that limit exactly when an upstream is struggling; a budget keeps the extra
 * load bounded (20% by default) so retries cannot turn a brown-out into an outage.
 *
 * Call `recordRequest` once per client request (not per attempt), `tryAcquire` before each retry, and
 * `release` when an acquired retry finishes, whatever its outcome.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minConcurrent: number;
  readonly #floor: number;
  readonly #requests: WindowCounter;
  readonly #retries: WindowCounter;
  #active = 0;

  constructor(opts: RetryBudgetOptions, clock: Clock) {
    const windowMs = opts.windowMs ?? 10_000;
    this.#ratio = Math.max(0, opts.ratio ?? 0.2);
    this.#minConcurrent = Math.max(0, opts.minConcurrent ?? 3);
    this.#floor = Math.max(0, opts.minRetriesPerSec ?? 0) * (windowMs / 1_000);
    this.#requests = new WindowCounter(windowMs, clock);
    this.#retries = new WindowCounter(windowMs, clock);
  }

  recordRequest(): void {
    this.#requests.add();
  }

  tryAcquire(): boolean {
    const allowed =
      this.#retries.total() < this.#ratio * this.#requests.total() + this.#floor ||
      this.#active < this.#minConcurrent;
    if (!allowed) return false;
    this.#active++;
    this.#retries.add();
    return true;
  }

  release(): void {
    // Clamped so a double release cannot open the concurrency floor wider than configured.
    if (this.#active > 0) this.#active--;
  }

  stats(): RetryBudgetStats {
    return { requests: this.#requests.total(), retries: this.#retries.total(), active: this.#active };
  }
}
