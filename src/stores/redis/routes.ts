import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { HoldfastError, toHoldfastError } from '../../core/errors.ts';
import type { Caller } from '../../pipeline/context.ts';
import { openaiDoor } from '../../providers/openai/door.ts';
import type { SharedState } from './shared-state.ts';

/**
 * Where an operator (or a load balancer's health check) sees the shared state:
 * `GET /health/shared-state` (public: the mode and the live replica count, nothing about other hosts) and
 * `GET /admin/shared-state` (admin key: replicas with their addresses, remote ejections, clock skew).
 * A replica in local fallback still serves, so neither answers with an error status for it.
 */
export function sharedStateRoutes(
  state: SharedState,
  authenticate: (headers: IncomingHttpHeaders) => Promise<Caller>,
): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/health/shared-state', async () => {
      const s = state.status();
      return { status: s.mode, since: new Date(s.since).toISOString(), live_replicas: s.liveReplicas };
    });
    app.get('/admin/shared-state', async (req, reply) => {
      try {
        const caller = await authenticate(req.headers);
        if (caller.kind !== 'admin') throw new HoldfastError('admin_required');
        return state.status();
      } catch (err) {
        const e = toHoldfastError(err);
        reply.code(e.status).header('content-type', 'application/json; charset=utf-8');
        return JSON.stringify(openaiDoor.renderError(e));
      }
    });
  };
}
