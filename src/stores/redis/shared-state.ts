import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../../config/schema.ts';
import type { RateStore } from '../../overload/rate-store.ts';
import type { QueueReport } from '../../pipeline/admission.ts';
import type { StatusTelemetry, TelemetryShape } from '../../status/telemetry.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { createRedisClient, type Redis } from './client.ts';
import { type EjectionEngine, type RemoteEjection, SharedEjections } from './ejections.ts';
import { sharedKeys } from './keys.ts';
import { type LinkStatus, RedisLink, type SharedMode } from './link.ts';
import { type ReplicaInfo, ReplicaMembership } from './membership.ts';
import { type OverloadAdmission, SharedOverload } from './overload.ts';
import { clusterQueues } from './queues.ts';
import { RedisRateStore } from './rate-store.ts';
import { ResilientRateStore } from './resilient-rate-store.ts';
import { RedisStatusTelemetry } from './status-telemetry.ts';
import { redisUrlOf } from './url.ts';

export type { SharedMode } from './link.ts';

export interface SharedStateStatus extends LinkStatus {
  replicaId: string;
  /** Live replicas as last heard (this one included); limits are divided by it during an outage. */
  liveReplicas: number;
  replicas: readonly ReplicaInfo[];
  /** This replica's clock minus Redis's, ms. */
  clockSkewMs?: number;
  /** Ejections other replicas made that this one honours now. */
  remoteEjections: RemoteEjection[];
  /** Ejections this replica made (and shared, unless Redis was away). */
  localEjections: Array<{ id: string; at: number; until: number }>;
  /** Rate-limit calls answered from local state since start (Redis away, late or failing). */
  localAnswers: number;
}

/** Everything replicas share through Redis (docs/scale-out.md). */
export interface SharedState {
  readonly replicaId: string;
  readonly rateStore: RateStore;
  /** `shared` or `local-fallback`: for health checks and metrics. */
  mode(): SharedMode;
  status(): SharedStateStatus;
  /**
   * The waiting room across the cluster: this replica's live queue report plus the others' as of their
   * last heartbeat (just `local` while Redis is away).
   */
  queues(local: readonly QueueReport[]): QueueReport[];
  /** The status system's request counters summed over the replicas (docs/status.md#several-replicas). */
  statusTelemetry(shape: TelemetryShape): StatusTelemetry;
  /**
   * Once the server listens: announce its URL, share the engine's ejections and the upstreams' overload
   * refusals (admission cuts its limits), and send this replica's admission queues with each heartbeat.
   */
  start(opts: {
    url: string;
    engine: () => EjectionEngine;
    queues?: () => readonly QueueReport[];
    admission?: () => OverloadAdmission | undefined;
  }): Promise<void>;
  close(): Promise<void>;
}

export type SharedStateConfig = Config['shared_state'];

export { redisUrlOf } from './url.ts';

/** How long startup waits for Redis before serving in local fallback (and connecting in the background). */
const STARTUP_WAIT_MS = 1_000;

/**
 * Connects to Redis when one is configured and returns the shared state; undefined without one. Never
 * fails because Redis is down: the replica then starts in local fallback and keeps trying.
 */
export async function openSharedState(
  cfg: SharedStateConfig,
  opts: { env: NodeJS.ProcessEnv; logger?: Logger },
): Promise<SharedState | undefined> {
  const url = redisUrlOf(cfg, opts.env);
  if (!url) return undefined;
  const redis = createRedisClient({
    url,
    connectTimeoutMs: STARTUP_WAIT_MS,
    reconnectBaseMs: cfg.reconnect_base_ms,
    reconnectCapMs: cfg.reconnect_cap_ms,
  });
  const link = new RedisLink({
    redis,
    timeoutMs: cfg.timeout_ms,
    failuresToFallback: cfg.fallback_after_failures,
    reconnectBaseMs: cfg.reconnect_base_ms,
    reconnectCapMs: cfg.reconnect_cap_ms,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  await link.start(STARTUP_WAIT_MS);
  const replicaId = cfg.replica_id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let selfUrl = '';
  let ownQueues: (() => readonly QueueReport[]) | undefined;
  const membership = new ReplicaMembership({
    redis,
    link,
    prefix: cfg.key_prefix,
    id: replicaId,
    url: () => selfUrl,
    heartbeatMs: cfg.heartbeat_ms,
    ttlMs: cfg.replica_ttl_ms,
    queues: () => ownQueues?.() ?? [],
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  // Heartbeating before serving: the others must see this replica alive before it holds any slot.
  await membership.start();
  const rateStore = new ResilientRateStore({
    shared: new RedisRateStore({
      redis,
      prefix: cfg.key_prefix,
      replicaId,
      replicaTtlMs: cfg.replica_ttl_ms,
    }),
    link,
    replicas: () => membership.liveCount(),
  });
  let subscriber: Redis | undefined;
  let ejections: SharedEjections | undefined;
  let overload: SharedOverload | undefined;
  return {
    replicaId,
    rateStore,
    mode: () => link.mode,
    status: () => ({
      ...link.status(),
      replicaId,
      liveReplicas: membership.liveCount(),
      replicas: membership.replicas(),
      ...(membership.clockSkewMs !== undefined ? { clockSkewMs: membership.clockSkewMs } : {}),
      remoteEjections: ejections?.remote() ?? [],
      localEjections: ejections?.own() ?? [],
      localAnswers: rateStore.localAnswers,
    }),
    queues(local) {
      if (link.mode !== 'shared') return [...local];
      return clusterQueues(
        local,
        membership
          .replicas()
          .filter((r) => r.id !== replicaId)
          .map((r) => r.queues),
      );
    },
    statusTelemetry: (shape) =>
      new RedisStatusTelemetry({
        redis,
        prefix: cfg.key_prefix,
        replicaId,
        shape,
        link,
        ...(opts.logger ? { logger: opts.logger } : {}),
      }),
    async start(s) {
      selfUrl = s.url;
      ownQueues = s.queues;
      await membership.beat();
      subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: true });
      ejections = new SharedEjections({
        redis,
        subscriber,
        link,
        prefix: cfg.key_prefix,
        replicaId,
        engine: s.engine,
        ...(opts.logger ? { logger: opts.logger } : {}),
      });
      link.onChange((mode) => {
        if (mode === 'shared') void ejections?.resync();
      });
      if (s.admission) {
        overload = new SharedOverload({
          redis,
          subscriber,
          link,
          channel: sharedKeys(cfg.key_prefix).overloadEvents,
          replicaId,
          admission: s.admission,
          ...(opts.logger ? { logger: opts.logger } : {}),
        });
        overload.start();
      }
      await ejections.start();
    },
    async close() {
      overload?.close();
      ejections?.close();
      await membership.leave();
      link.close();
      subscriber?.disconnect();
      redis.disconnect();
    },
  };
}
