import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../telemetry/logger.ts';
import type { InFlight } from './inflight.ts';

/**
 * Where a replica is in its shutdown:
 * - `serving`: normal.
 * - `draining`: /health/ready answers 503 so load balancers stop choosing this replica, but every
 *   request is still accepted and served, each answer with `Connection: close` so pooled connections
 *   move elsewhere (the drain delay).
 * - `stopping`: the listener is closed and idle connections are closed; requests already running (and
 *   any that still arrive on an open connection) finish within the grace; chat readers are handed over.
 */
export type DrainPhase = 'serving' | 'draining' | 'stopping';

export interface DrainOptions {
  /** How long to keep serving with readiness failing before the listener closes (0: at once). */
  delayMs: number;
  /** How long in-flight work gets, counted from the listener's close, before it is cut. */
  graceMs: number;
}

export interface DrainTargets {
  /** The HTTP server, for closing connections that go idle while stopping. */
  server: Pick<Server, 'closeIdleConnections' | 'closeAllConnections'>;
  /** Closes the listener; resolves once every connection has ended (Fastify's app.close()). */
  closeServer(): Promise<void>;
  /** Model API requests, which can be waited for and cut. */
  inflight: InFlight;
  /** Chat answers: readers handed over at once, answers given the grace, then ended continuable. */
  chat?: { close(graceMs: number): Promise<void> };
  logger: Logger;
  onPhase(phase: DrainPhase): void;
}

/**
 * How often connections that went idle while stopping are closed. Node's server.close() closes only
 * the connections idle at that moment; one whose answer ends later would stay open, kept alive, and
 * hold the close up until its keep-alive timeout.
 */
const IDLE_SWEEP_MS = 100;

/**
 * Shuts a replica down the way a load balancer needs: stop being chosen before refusing anything, then
 * stop accepting, then let running work finish. Resolves `drained: false` when the grace ran out and
 * requests or connections were cut.
 */
export async function drainServer(t: DrainTargets, opts: DrainOptions): Promise<{ drained: boolean }> {
  t.onPhase('draining');
  if (opts.delayMs > 0) {
    t.logger.info(
      { delayMs: opts.delayMs },
      'draining: /health/ready fails, still serving until load balancers stop sending',
    );
    await sleep(opts.delayMs);
  }
  t.onPhase('stopping');
  t.logger.info(
    { inflight: t.inflight.size, graceMs: opts.graceMs },
    'stopped accepting connections; finishing in-flight requests',
  );
  const deadline = Date.now() + opts.graceMs;
  const closed = t.closeServer();
  // Awaited below; until then a failure must not count as unhandled (which would end the process).
  closed.catch(() => {});
  const sweep = setInterval(() => t.server.closeIdleConnections(), IDLE_SWEEP_MS);
  try {
    const [requests] = await Promise.all([t.inflight.drain(opts.graceMs), t.chat?.close(opts.graceMs)]);
    // Other faces' requests (chat API, admin, pages) are not tracked one by one: they end by themselves,
    // their connections closing after them; whatever is still open when the grace ends is cut.
    const rest = Math.max(0, deadline - Date.now());
    const drained = requests && (await settlesWithin(closed, rest));
    if (!drained) {
      t.logger.warn({ inflight: t.inflight.size }, 'shutdown grace ran out; cutting remaining requests');
      t.inflight.abortAll('server shutting down');
      t.server.closeAllConnections();
    }
    await closed;
    return { drained };
  } finally {
    clearInterval(sweep);
  }
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
