import { sql } from 'kysely';
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../../stores/database.ts';
import { CallbackMetric } from './series.ts';

/** A scrape waits at most this long for the database; slower counts as down. */
const PING_TIMEOUT_MS = 2_000;

export interface StorePing {
  up: boolean;
  seconds: number;
}

/** One `select 1` against the SQL store, bounded by a timeout. */
export async function pingStore(db: Pick<Db, 'kysely'>, timeoutMs = PING_TIMEOUT_MS): Promise<StorePing> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('store ping timed out')), timeoutMs);
  });
  try {
    await Promise.race([sql`select 1`.execute(db.kysely), timeout]);
    return { up: true, seconds: (performance.now() - t0) / 1000 };
  } catch {
    return { up: false, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SQL store health, probed at scrape time: one ping serves both gauges.
 */
export function registerStoreMetrics(registry: Registry, db: Pick<Db, 'kysely' | 'engine'>): void {
  let pending: Promise<StorePing> | undefined;
  // Both gauges are collected in the same scrape; they share one ping.
  const ping = (): Promise<StorePing> => {
    pending ??= pingStore(db).finally(() => {
      pending = undefined;
    });
    return pending;
  };
  new Gauge({
    name: 'holdfast_store_up',
    help: '1 when the SQL store (PGlite or PostgreSQL) answered a ping at scrape time, else 0.',
    labelNames: ['engine'],
    registers: [registry],
    async collect() {
      this.set({ engine: db.engine }, (await ping()).up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'holdfast_store_ping_seconds',
    help: 'How long the scrape-time ping of the SQL store took (up to the 2 s timeout).',
    labelNames: ['engine'],
    registers: [registry],
    async collect() {
      this.set({ engine: db.engine }, (await ping()).seconds);
    },
  });
}

/** The slice of the shared state (src/stores/redis) read at scrape time. */
export interface SharedStateView {
  status(): {
    /** `shared`: Redis is trusted; `local-fallback`: this replica answers from its own state. */
    mode: string;
    /** Changes of mode since start. */
    transitions: number;
    /** Live replicas as last heard, this one included. */
    liveReplicas?: number;
  };
}

/**
 * Redis health as the shared-state link sees it (no extra ping: the link already times every call and
 * falls back after repeated failures). Without a Redis URL there is no shared state and no series.
 */
export function registerRedisMetrics(registry: Registry, shared: () => SharedStateView | undefined): void {
  new CallbackMetric(registry, {
    name: 'holdfast_redis_up',
    help: '1 while the replica shares state through Redis, 0 while it runs on local fallback (Redis failing or unreachable). Absent without Redis.',
    type: 'gauge',
    read: () => {
      const s = shared()?.status();
      return s === undefined ? undefined : s.mode === 'shared' ? 1 : 0;
    },
  });
  new CallbackMetric(registry, {
    name: 'holdfast_redis_mode_changes_total',
    help: 'Switches between shared state through Redis and local fallback since start.',
    type: 'counter',
    read: () => shared()?.status().transitions,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_replicas_live',
    help: 'Replicas this one last heard from through Redis, itself included (limits are divided by it during a Redis outage).',
    type: 'gauge',
    read: () => shared()?.status().liveReplicas,
  });
}

/** The slice of the PostgreSQL outage buffer (src/stores/outage) read at scrape time. */
export interface OutageBufferView {
  state: 'ok' | 'buffering' | 'full';
  reachable: boolean;
  entries: number;
  bytes: number;
  maxBytes: number;
  oldestAt?: number;
  replayed: number;
  refused: number;
  rejected: number;
}

const BUFFER_STATES = ['ok', 'buffering', 'full'] as const;

/**
 * The outage buffer (docs/postgres-outage.md), read at scrape time. Only on PostgreSQL: on PGlite there
 * is no buffer and no series.
 */
export function registerOutageBufferMetrics(
  registry: Registry,
  buffer: () => OutageBufferView | undefined,
): void {
  new Gauge({
    name: 'holdfast_store_buffer_state',
    help: '1 for the outage buffer state now (ok: nothing waiting; buffering: writes kept on disk for PostgreSQL; full: new chat messages refused), 0 for the others.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const b = buffer();
      if (!b) return;
      for (const s of BUFFER_STATES) this.set({ state: s }, b.state === s ? 1 : 0);
    },
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_reachable',
    help: '1 while PostgreSQL answers the gateway, 0 from a failed query (refused, reset, timed out) until it answers again.',
    type: 'gauge',
    read: () => {
      const b = buffer();
      return b === undefined ? undefined : b.reachable ? 1 : 0;
    },
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_entries',
    help: 'Writes waiting in the outage buffer for PostgreSQL.',
    type: 'gauge',
    read: () => buffer()?.entries,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_bytes',
    help: 'Size of the writes waiting in the outage buffer.',
    type: 'gauge',
    read: () => buffer()?.bytes,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_max_bytes',
    help: 'The outage buffer bound (store.outage_buffer.max_bytes); new chat messages are refused from 90% of it.',
    type: 'gauge',
    read: () => buffer()?.maxBytes,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_oldest_seconds',
    help: 'Age of the oldest write waiting in the outage buffer (0 when none).',
    type: 'gauge',
    read: () => {
      const b = buffer();
      if (!b) return undefined;
      return b.oldestAt === undefined ? 0 : Math.max(0, (Date.now() - b.oldestAt) / 1000);
    },
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_replayed_total',
    help: 'Buffered writes replayed into PostgreSQL since start.',
    type: 'counter',
    read: () => buffer()?.replayed,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_refused_total',
    help: 'Writes refused since start because the outage buffer was full (chat sends get storage_unavailable).',
    type: 'counter',
    read: () => buffer()?.refused,
  });
  new CallbackMetric(registry, {
    name: 'holdfast_store_buffer_rejected_total',
    help: 'Buffered writes PostgreSQL rejected on replay (each logged as an error with its key) since start.',
    type: 'counter',
    read: () => buffer()?.rejected,
  });
}
