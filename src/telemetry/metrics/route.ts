import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { HoldfastError, toHoldfastError } from '../../core/errors.ts';
import type { Caller } from '../../pipeline/context.ts';
import { openaiDoor } from '../../providers/openai/door.ts';
import { createMetrics, type GatewayMetrics, type MetricsSources } from '../metrics.ts';

export const METRICS_PATH = '/metrics';

export interface MetricsRouteDeps extends MetricsSources {
  /** Open mode (a laptop): everything is open, metrics too. */
  openMode: boolean;
  /** The gateway's authenticator; throws the 401 HoldfastError when there is no valid key. */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
  /** Called with the metrics once they exist (tests read the registry). */
  onMetrics?(metrics: GatewayMetrics): void;
}

/**
 * `GET /metrics` as a plugin for the server's plugin list (ServerDeps.plugins). With
 * `telemetry.metrics.enabled` off nothing is registered and nothing subscribes. Metrics reveal traffic
 * volumes, model and deployment names and error rates, so unless `telemetry.metrics.public` is set (or
 * the gateway runs in open mode) the scraper must present the admin key, as a Bearer token or x-api-key.
 */
export function metricsPlugin(deps: MetricsRouteDeps) {
  return (app: FastifyInstance): void => {
    if (!deps.config().telemetry.metrics.enabled) return;
    const metrics = createMetrics(deps);
    deps.onMetrics?.(metrics);
    app.addHook('onClose', async () => metrics.close());
    app.get(METRICS_PATH, async (req, reply) => {
      try {
        if (!deps.openMode && !deps.config().telemetry.metrics.public) {
          const caller = await deps.authenticate(req.headers);
          if (caller.kind !== 'admin')
            throw new HoldfastError('admin_required', { message: 'Metrics need the admin key.' });
        }
      } catch (err) {
        const e = toHoldfastError(err);
        reply.code(e.status).header('content-type', 'application/json; charset=utf-8');
        if (e.status === 401) reply.header('www-authenticate', 'Bearer realm="holdfast metrics"');
        return JSON.stringify(openaiDoor.renderError(e));
      }
      const body = await metrics.render();
      reply.header('content-type', metrics.contentType).header('cache-control', 'no-store');
      return body;
    });
  };
}
