export { type BackoffOptions, fullJitter } from './backoff.ts';
export { Balancer, type BalancerOptions, loadScore, type PriorityPlan, priorityPlan } from './balancer.ts';
export { Deadline, type FirstByteTimeoutOptions, firstByteTimeout } from './deadline.ts';
export { PeakEwma, type PeakEwmaOptions } from './ewma.ts';
export { HedgeBudget, type HedgeBudgetOptions, type HedgeBudgetStats } from './hedge-budget.ts';
export {
  OutlierDetector,
  type OutlierListener,
  type OutlierOptions,
  type OutlierSnapshot,
  type OutlierState,
  type SuccessRateOptions,
} from './outlier.ts';
export { SlidingQuantile, type SlidingQuantileOptions } from './quantile.ts';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetStats } from './retry-budget.ts';
export type { Candidate, Clock, Rng } from './types.ts';
export { systemClock } from './types.ts';
export { WindowCounter } from './window.ts';
