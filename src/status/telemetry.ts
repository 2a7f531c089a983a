import { BucketCounters, emptyTally, type Tally } from './windows.ts';

/**
 * How the status system counts requests per component: the buckets every adapter keeps, fixed by the
 * burn-rate windows (see `telemetryShape` in tracker.ts).
 */
export interface TelemetryShape {
  /** Bucket width (ms): a window edge is accurate to one bucket. */
  bucketMs: number;
  /** The longest window any rule sums over (ms): older buckets may be forgotten. */
  spanMs: number;
  /** The component keys counted (the config's components, groups left out). */
  keys: readonly string[];
}

/** Whose requests `sum` answers with: this process's own, or every replica's. */
export type TelemetryScope = 'local' | 'cluster';

export interface TelemetryStatus {
  /** Where the counts live: `memory` (this process) or `redis` (summed over the replicas). */
  backend: 'memory' | 'redis';
  scope: TelemetryScope;
  /** Wall-clock ms of the last change of scope (or of the start). */
  since: number;
  /** Why the counts are this replica's own while the backend is shared (absent when cluster-wide). */
  reason?: string;
  /** Wall-clock ms of the last successful exchange with the shared backend. */
  lastSyncAt?: number;
}

/**
 * The status system's request counters per component, as a port: the burn-rate policy (tracker.ts,
 * burn.ts) reads window sums from it and stays pure; an adapter decides whose requests those sums cover.
 * `add` and `sum` are synchronous and never wait on I/O: a shared adapter exchanges its counts in the
 * background and answers from what it last read.
 */
export interface StatusTelemetry {
  /** Counts one finished request of a component at `now` (epoch ms). */
  add(key: string, now: number, bad: boolean, slow: boolean): void;
  /** The component's counts over the trailing `windowMs` (whole buckets, the current one included). */
  sum(key: string, now: number, windowMs: number): Tally;
  status(): TelemetryStatus;
  /** Reads what it needs before the first evaluation (a shared adapter: the cluster's recent buckets). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the adapter for a shape (the service knows the shape; the app knows the backend). */
export type StatusTelemetryFactory = (shape: TelemetryShape) => StatusTelemetry;

/** Per-component bucket rings in this process: the counts of the requests this process served. */
export class LocalCounters {
  readonly #shape: TelemetryShape;
  readonly #rings = new Map<string, BucketCounters>();

  constructor(shape: TelemetryShape) {
    this.#shape = shape;
  }

  #ring(key: string): BucketCounters {
    let r = this.#rings.get(key);
    if (!r) {
      r = new BucketCounters(this.#shape.bucketMs, this.#shape.spanMs);
      this.#rings.set(key, r);
    }
    return r;
  }

  add(key: string, now: number, bad: boolean, slow: boolean): void {
    this.#ring(key).add(now, bad, slow);
  }

  /** Overwrites one bucket (by index) with counts read from elsewhere. */
  put(key: string, bucket: number, tally: Tally): void {
    this.#ring(key).put(bucket, tally);
  }

  sum(key: string, now: number, windowMs: number): Tally {
    return this.#rings.get(key)?.sum(now, windowMs) ?? emptyTally();
  }
}

/** Today's single-node behaviour: every count stays in this process. */
export class MemoryStatusTelemetry implements StatusTelemetry {
  readonly #counters: LocalCounters;
  readonly #since = Date.now();

  constructor(shape: TelemetryShape) {
    this.#counters = new LocalCounters(shape);
  }

  add(key: string, now: number, bad: boolean, slow: boolean): void {
    this.#counters.add(key, now, bad, slow);
  }

  sum(key: string, now: number, windowMs: number): Tally {
    return this.#counters.sum(key, now, windowMs);
  }

  status(): TelemetryStatus {
    return { backend: 'memory', scope: 'local', since: this.#since };
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}
}
