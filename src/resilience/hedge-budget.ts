import type { Clock } from './types.ts';
import { WindowCounter } from './window.ts';

export interface HedgeBudgetOptions {
  /** Hedges may add at most this share of the requests seen in the window. */
  ratio?: number;
  windowMs?: number;
  /** Allowed per window however little traffic there is, so a quiet gateway still hedges a stalled request. */
  minPerWindow?: number;
}

export interface HedgeBudgetStats {
  requests: number;
  hedges: number;
}

/**
 * Caps hedged (speculative second) attempts as a share of recent requests ["The Tail at Scale"]. Hedging
 * buys tail latency with extra load; the budget keeps that load small (5% by default) and, crucially,
 * stops hedging from doubling traffic when every deployment is slow at once.
 *
 * Call `recordRequest` once per client request and `tryAcquire` before launching a hedge.
 */
export class HedgeBudget {
  readonly #ratio: number;
  readonly #minPerWindow: number;
  readonly #requests: WindowCounter;
  readonly #hedges: WindowCounter;

  constructor(opts: HedgeBudgetOptions, clock: Clock) {
    const windowMs = opts.windowMs ?? 10_000;
    this.#ratio = Math.max(0, opts.ratio ?? 0.05);
    this.#minPerWindow = Math.max(0, opts.minPerWindow ?? 1);
    this.#requests = new WindowCounter(windowMs, clock);
    this.#hedges = new WindowCounter(windowMs, clock);
  }

  recordRequest(): void {
    this.#requests.add();
  }

  tryAcquire(): boolean {
    const allowance = Math.max(this.#minPerWindow, this.#ratio * this.#requests.total());
    if (this.#hedges.total() + 1 > allowance) return false;
    this.#hedges.add();
    return true;
  }

  stats(): HedgeBudgetStats {
    return { requests: this.#requests.total(), hedges: this.#hedges.total() };
  }
}
