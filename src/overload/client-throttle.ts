import type { Clock, Rng } from '../resilience/types.ts';
import { WindowCounter } from '../resilience/window.ts';

export interface ClientThrottleOptions {
  windowMs?: number;
  /** Requests may run up to k × accepts before any are rejected locally; 2 in the SRE book. */
  k?: number;
  /**
   * Below this many requests in the window nothing is rejected: at low volume a single refusal would read
   * as p = 0.5 and starve an upstream that had one bad moment. Default 10.
   */
  minRequests?: number;
}

export interface ClientThrottleStats {
  requests: number;
  accepts: number;
  rejectProbability: number;
}

/**
 * Client-side adaptive throttling toward one upstream [Google SRE book, "Handling Overload"]: when the
 * upstream keeps rejecting, reject locally with probability max(0, (requests − k·accepts) / (requests + 1))
 * over the window, so a struggling upstream is not hammered by retries and new traffic it will refuse anyway.
 * A local rejection costs nothing upstream and still counts as a request, so the probability keeps rising
 * while the upstream refuses and falls back as soon as it accepts again.
 *
 * `requests` counts local rejections when they happen and forwarded requests when their outcome is
 * recorded, not when they start: LLM answers take seconds, and counting a cold burst of in-flight requests
 * before any could be accepted would read as a rejection rate of n/(n+1) and throttle a healthy upstream.
 * In steady state the two ways of counting give the same totals.
 */
export class ClientThrottle {
  readonly #rng: Rng;
  readonly #k: number;
  readonly #minRequests: number;
  readonly #requests: WindowCounter;
  readonly #accepts: WindowCounter;

  constructor(opts: ClientThrottleOptions, clock: Clock, rng: Rng) {
    const windowMs = opts.windowMs ?? 120_000;
    this.#rng = rng;
    this.#k = Math.max(1, opts.k ?? 2);
    this.#minRequests = Math.max(0, opts.minRequests ?? 10);
    // 24 buckets of 5 s: the probability decays smoothly instead of in 12-second steps.
    this.#requests = new WindowCounter(windowMs, clock, 24);
    this.#accepts = new WindowCounter(windowMs, clock, 24);
  }

  /** True: fail this request locally. A local rejection is counted here; a forwarded one at `record`. */
  shouldReject(): boolean {
    const p = this.rejectProbability();
    if (p <= 0 || this.#rng() >= p) return false;
    this.#requests.add();
    return true;
  }

  /**
   * The outcome of a forwarded request. `accepted` is false only when the upstream refused it for load
   * (429/529, overload timeout); errors that are the caller's fault or a bad answer still mean it accepted.
   */
  record(accepted: boolean): void {
    this.#requests.add();
    if (accepted) this.#accepts.add();
  }

  rejectProbability(): number {
    const requests = this.#requests.total();
    if (requests < this.#minRequests) return 0;
    const accepts = this.#accepts.total();
    return Math.max(0, (requests - this.#k * accepts) / (requests + 1));
  }

  stats(): ClientThrottleStats {
    return {
      requests: this.#requests.total(),
      accepts: this.#accepts.total(),
      rejectProbability: this.rejectProbability(),
    };
  }
}
