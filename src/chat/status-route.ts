import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';

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
  deps: { guard: preHandlerAsyncHookHandler; health(): ModelHealth[] },
): void {
  app.get('/api/status', { preHandler: deps.guard }, async () => ({ models: deps.health() }));
}
