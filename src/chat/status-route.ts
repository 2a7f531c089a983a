import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { StoreHealth } from '../stores/outage/port.ts';

export type ModelStatus = 'operational' | 'degraded' | 'down';

export interface ModelHealth {
  name: string;
  status: ModelStatus;
  message?: string;
  queue?: { queued: number; estimatedWaitMs: number };
}

/**
 * GET /api/status: what the chat's banner shows. `health` comes from the gateway: the status system's
 * component statuses when it runs (so the banner agrees with the status page; src/status), otherwise the
 * engine's own view (degraded when some deployments are ejected, blocked or suspect, down when none can
 * serve).
 */
export function registerStatusRoute(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; health(): ModelHealth[]; storage?: () => StoreHealth },
): void {
  app.get('/api/status', { preHandler: deps.guard }, async () => ({
    models: deps.health(),
    storage: storageView(deps.storage?.()),
  }));
}

/**
 * `storage` in /api/status: whether what users write reaches the database now. `savingDelayed`: it is
 * kept on the server and saved when PostgreSQL answers again (docs/postgres-outage.md); `state: full`:
 * new messages are refused until then. Always `ok` on the embedded store.
 */
export function storageView(h: StoreHealth | undefined): {
  state: 'ok' | 'buffering' | 'full';
  savingDelayed: boolean;
  message?: string;
} {
  if (!h || (h.reachable && h.state === 'ok')) return { state: 'ok', savingDelayed: false };
  if (h.state === 'full')
    return {
      state: 'full',
      savingDelayed: true,
      message:
        'Saving is unavailable: the database is unreachable and the server cannot hold more unsaved messages. New messages are refused until it is back.',
    };
  return {
    state: 'buffering',
    savingDelayed: true,
    message:
      'Saving is delayed: the database is unreachable. Your messages are kept on the server and saved when it is back.',
  };
}
