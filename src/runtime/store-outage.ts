import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sessionReplayHandlers } from '../chat/accounts/sessions.ts';
import { chatReplayHandlers } from '../chat/conversations/replay.ts';
import type { Config } from '../config/schema.ts';
import { statusReplayHandlers } from '../status/store.ts';
import type { Db } from '../stores/database.ts';
import { type KeyStore, withKnownKeys } from '../stores/keys.ts';
import { defaultBufferDir, OutageBuffer, type OutageLog } from '../stores/outage/buffer.ts';
import type { StoreHealth } from '../stores/outage/port.ts';

/**
 * The PostgreSQL outage layer as the gateway wires it (docs/postgres-outage.md): the buffer with every
 * module's replay handlers, opened (and what an earlier run left replayed) before anything else reads
 * the database. Undefined on PGlite, or with store.outage_buffer.enabled off.
 */
export interface StoreOutage {
  readonly buffer: OutageBuffer;
  readonly credentialsTtlMs: number;
  /** Key verification that honours recently verified keys while the database is unreachable. */
  keys(store: KeyStore): { verify: KeyStore['verifyKey'] };
  /** Forgets every key remembered for an outage (a key was revoked in this process). */
  forgetKeys(): void;
  health(): StoreHealth;
  close(): Promise<void>;
}

/**
 * What the pool gets from the outage layer: its timeout as the connect timeout, so a dead database is
 * noticed within it; and a server-side limit on sessions left idle in a transaction, so a transaction
 * cut off mid-way by a network partition (its session still open on the server, holding row locks)
 * cannot block the replay of the same rows until the server's TCP keepalive notices, hours later.
 */
export function storePoolOptions(store: Config['store']): {
  connectTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
} {
  if (!store.url || !store.outage_buffer.enabled) return {};
  const t = store.outage_buffer.timeout_ms;
  return { connectTimeoutMs: t, idleInTransactionTimeoutMs: Math.max(10_000, 5 * t) };
}

export async function openStoreOutage(
  store: Config['store'],
  db: Db,
  log: OutageLog,
): Promise<StoreOutage | undefined> {
  if (db.engine !== 'postgres' || !store.outage_buffer.enabled) return undefined;
  const o = store.outage_buffer;
  const dir = resolve(o.dir ?? defaultBufferDir(store.data_dir));
  let buffer: OutageBuffer;
  try {
    buffer = await OutageBuffer.open({
      db: db.kysely,
      dir,
      maxBytes: o.max_bytes,
      maxEntries: o.max_entries,
      fsync: o.fsync,
      timeoutMs: o.timeout_ms,
      handlers: { ...chatReplayHandlers, ...sessionReplayHandlers, ...statusReplayHandlers },
      log,
      // Silence rather than refusal (packets dropped, an address gone): drop the stuck connections.
      ...(db.resetConnections ? { onTimeout: db.resetConnections } : {}),
    });
  } catch (err) {
    // A directory it cannot use (read-only, not its own) must not keep the gateway from serving while
    // PostgreSQL is up: it runs as without the buffer, and says so.
    const code = (err as { code?: unknown }).code;
    if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM' && code !== 'ENOTDIR') throw err;
    log.error(
      { err, dir },
      'outage buffer DISABLED: its directory cannot be written; while PostgreSQL is unreachable, chat writes will fail. Set store.outage_buffer.dir (or store.data_dir) to a writable directory',
    );
    return undefined;
  }
  try {
    const replayed = await buffer.replayPending();
    if (replayed > 0) log.info({ replayed, dir: buffer.dir }, 'outage buffer: replayed before serving');
  } catch (err) {
    await buffer.close();
    throw err;
  }
  const credentialsTtlMs = o.credentials_ttl_s * 1000;
  const lookups: Array<{ forget(): void }> = [];
  return {
    buffer,
    credentialsTtlMs,
    keys: (keyStore) => {
      const lookup = withKnownKeys(keyStore, { guard: buffer, ttlMs: credentialsTtlMs });
      lookups.push(lookup);
      return lookup;
    },
    forgetKeys: () => {
      for (const l of lookups) l.forget();
    },
    health: () => buffer.health(),
    close: () => buffer.close(),
  };
}

/**
 * GET /health/store: the outage buffer's state for load balancers and operators. Always 200 (a replica
 * buffering writes still serves); `state` and `reachable` say what is going on.
 */
export function storeHealthRoutes(outage: StoreOutage) {
  return (app: FastifyInstance): void => {
    app.get('/health/store', async (_req, reply) => {
      const h = outage.health();
      reply.header('cache-control', 'no-store');
      return {
        engine: h.engine,
        reachable: h.reachable,
        state: h.state,
        entries: h.entries,
        bytes: h.bytes,
        maxEntries: h.maxEntries,
        maxBytes: h.maxBytes,
        ...(h.oldestAt !== undefined ? { oldestAt: new Date(h.oldestAt).toISOString() } : {}),
        replayed: h.replayed,
        refused: h.refused,
        rejected: h.rejected,
      };
    });
  };
}
