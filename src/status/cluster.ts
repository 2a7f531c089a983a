import type { Config } from '../config/schema.ts';
import type { Db } from '../stores/database.ts';
import type { SharedState } from '../stores/redis/shared-state.ts';
import { SqlEvaluatorLease } from './lease.ts';
import type { StatusServiceOptions } from './service.ts';

/** The evaluator's lease outlives a few missed ticks, so a busy moment does not hand the role around. */
const LEASE_TICKS = 5;
const LEASE_MIN_MS = 5_000;

/**
 * What the status system needs to run as one of several replicas (docs/status.md#several-replicas):
 * request counts summed through Redis, and one evaluator for the cluster. Without shared state (one node)
 * nothing: every count stays in memory and this process is the evaluator, as before.
 */
export function clusterStatusOptions(
  shared: SharedState | undefined,
  db: Db,
  config: Config,
): Pick<StatusServiceOptions, 'telemetry' | 'lease'> {
  if (!shared) return {};
  const ttlMs = Math.max(LEASE_MIN_MS, LEASE_TICKS * config.status.rules.tick_ms);
  return {
    telemetry: (shape) => shared.statusTelemetry(shape),
    lease: new SqlEvaluatorLease(db.kysely, shared.replicaId, ttlMs),
  };
}
