import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';

export type ModelStatus = 'operational' | 'degraded' | 'down';

export interface ModelHealth {
  name: string;
  status: ModelStatus;
  message?: string;
  queue?: { queued: number; estimatedWaitMs: number };
}

/**
 * GET /api/status: what the chat's banner shows. Until the status system (components, incidents) feeds
 * it, it is the gateway's own view: a model is degraded when some of its deployments are ejected,
 * blocked or suspect, down when none can serve.
 */
export function registerStatusRoute(
  app: FastifyInstance,
  deps: { guard: preHandlerAsyncHookHandler; health(): ModelHealth[] },
): void {
  app.get('/api/status', { preHandler: deps.guard }, async () => ({ models: deps.health() }));
}
