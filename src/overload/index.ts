export {
  AdaptiveLimit,
  type AdaptiveLimitOptions,
  type AdaptiveLimitSample,
  type AdaptiveLimitStats,
} from './adaptive-limit.ts';
export { ClientThrottle, type ClientThrottleOptions, type ClientThrottleStats } from './client-throttle.ts';
export { GCRA_NEVER_MS, type GcraResult, gcraCharge, gcraRefund, gcraStep } from './gcra.ts';
export {
  AdmissionQueue,
  type AdmissionQueueOptions,
  type ClassSettings,
  DEFAULT_CLASSES,
  type Dropped,
  type DropReason,
  PRIORITIES,
  type Priority,
  type QueueItem,
  type QueueStats,
  type Ticket,
} from './queue.ts';
export {
  type GcraAllResult,
  type GcraCheck,
  MemoryRateStore,
  type MemoryRateStoreOptions,
  type RateStore,
} from './rate-store.ts';
