/**
 * Pure resilience policy lives in this folder: balancer, breaker, retry budget, limiter, queue. Each
 * takes an injected clock and does no I/O, so it is tested fast and deterministically. The spine only
 * defines the shapes the pipeline calls through; issues #3 and #4 fill them in.
 */
import type { UpstreamError } from '../core/upstream-error.ts';

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** What the balancer knows about one deployment. */
export interface DeploymentView {
  id: string;
  region: string;
  weight: number;
}

/** Picks the order in which deployments are tried for one request. */
export interface Balancer {
  order(candidates: readonly DeploymentView[]): DeploymentView[];
}

/** Decides whether a failed attempt is tried again, and where. */
export interface RetryPolicy {
  /** `attempt` is 1-based; returns the delay before the next try or undefined to stop. */
  next(err: UpstreamError, attempt: number): number | undefined;
}

/** Round robin over weights: the spine's only balancing, deterministic. */
export class RoundRobin implements Balancer {
  #cursor = 0;
  order(candidates: readonly DeploymentView[]): DeploymentView[] {
    if (candidates.length <= 1) return [...candidates];
    const start = this.#cursor++ % candidates.length;
    return [...candidates.slice(start), ...candidates.slice(0, start)];
  }
}
