/**
 * Every Redis key and channel Holdfast uses, under one prefix (`shared_state.key_prefix`), so several
 * clusters or test runs can share a Redis without seeing each other's state.
 */
export interface SharedKeys {
  /** GCRA theoretical arrival time of one rate-limit key (a string holding a double). */
  rate(key: string): string;
  /** Concurrency slots of one key: a hash of replica id → slots that replica holds. */
  slots(key: string): string;
  /** Replica id → JSON description (url, started). */
  readonly replicas: string;
  /** Replica id scored by its last heartbeat (Redis time, ms): who is alive. */
  readonly seen: string;
  /** `<deployment>|<replica>` → JSON of a live ejection, for replicas that join (or reconnect) later. */
  readonly ejections: string;
  /** Pub/sub channel of ejections and recoveries. */
  readonly ejectionEvents: string;
  /** Pub/sub channel of upstream overload refusals (each replica cuts its adaptive limit). */
  readonly overloadEvents: string;
  /** Status telemetry of one time bucket: a hash of `<replica> <component>` → "total bad ok slow". */
  statusBucket(bucket: number): string;
  /** Bumped whenever a replica writes a bucket the others may already have read for good. */
  readonly statusLate: string;
}

export function sharedKeys(prefix: string): SharedKeys {
  return {
    rate: (key) => `${prefix}rate:${key}`,
    slots: (key) => `${prefix}slots:${key}`,
    replicas: `${prefix}replicas`,
    seen: `${prefix}replicas:seen`,
    ejections: `${prefix}ejections`,
    ejectionEvents: `${prefix}ejections:events`,
    overloadEvents: `${prefix}overload:events`,
    statusBucket: (bucket) => `${prefix}status:tally:${bucket}`,
    statusLate: `${prefix}status:late`,
  };
}
