import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ChaosRegistry } from './chaos/registry.ts';
import { type ChatApp, createChatApp } from './chat/app.ts';
import type { ModelHealth } from './chat/status-route.ts';
import type { Config } from './config/schema.ts';
import { InFlight } from './http/inflight.ts';
import { buildServer } from './http/server.ts';
import { MemoryRateStore } from './overload/rate-store.ts';
import { Admission } from './pipeline/admission.ts';
import { authStage, createAuthenticator, type KeyLookup } from './pipeline/auth.ts';
import type { ModelRoute, Stage } from './pipeline/context.ts';
import { composeDispatch } from './pipeline/dispatch.ts';
import { parseStage } from './pipeline/parse.ts';
import { createRateLimitStage } from './pipeline/rate-limit.ts';
import { ResilienceEngine } from './pipeline/resilient.ts';
import { createRouteStage, ModelTable } from './pipeline/route.ts';
import { type DeploymentRuntime, startDeployment } from './providers/registry.ts';
import { type Clock, type Rng, systemClock } from './resilience/types.ts';
import { registerStatusPublishing, type StatusPublishing } from './status/publish/index.ts';
import { statusRoutes } from './status/routes.ts';
import { StatusService } from './status/service.ts';
import { openDatabase } from './stores/database.ts';
import { createSqlKeyStore, type KeyStore } from './stores/keys.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { registerWebRoutes } from './web/routes.ts';

export interface Gateway {
  /** http://host:port of the listening server. */
  readonly url: string;
  readonly config: Config;
  readonly deployments: readonly DeploymentRuntime[];
  readonly openMode: boolean;
  readonly logger: Logger;
  /** Health, ejections and budgets of every deployment. */
  readonly engine: ResilienceEngine;
  /** Faults injected at run time (admin API /admin/chaos, `holdfast chaos`). */
  readonly chaos: ChaosRegistry;
  /** The caller key store (the same database the CLI's `keys` commands use). */
  readonly keys: KeyStore;
  /** The status system (components, incidents, maintenance, reports); absent when status.enabled is off. */
  readonly status?: StatusService;
  /** Stop accepting, let in-flight requests finish for up to `graceMs`, then cut them and release everything. */
  close(graceMs?: number): Promise<{ drained: boolean }>;
}

export interface StartOptions {
  /** Overrides config.log.level (tests use 'silent'). */
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
  /** Injected for deterministic tests of the resilience engine. */
  clock?: Clock;
  rng?: Rng;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

function toClass(c: { target_wait_ms: number; max_wait_ms: number }): {
  targetWaitMs: number;
  maxWaitMs: number;
} {
  return { targetWaitMs: c.target_wait_ms, maxWaitMs: c.max_wait_ms };
}

/** Open mode is for a laptop: never implied on a public interface or once an admin key exists. */
export function resolveOpenMode(config: Config, adminKey: string | undefined): boolean {
  const mode = config.server.open_mode;
  if (mode === 'auto') return isLoopback(config.server.host) && adminKey === undefined;
  return mode;
}

/**
 * Starts the whole gateway. The request lifecycle is assembled here, once, in this order:
 * authenticate → parse → route → dispatch (balancer → attempt) → relay. See docs/architecture.md.
 */
export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  const env = opts.env ?? process.env;
  const logger = createLogger(opts.logLevel ?? config.log.level);
  const adminKey = config.auth.admin_key ?? (env.HOLDFAST_ADMIN_KEY || undefined);
  const openMode = resolveOpenMode(config, adminKey);
  if (openMode && !isLoopback(config.server.host)) {
    logger.warn(
      { host: config.server.host },
      'open mode on a non-loopback interface: anyone who can reach this port can use it',
    );
  }

  let ready = false;
  let draining = false;
  const db = await openDatabase(config.store, {
    onPoolError: (err) => logger.error({ err }, 'database pool error'),
  });
  const deployments: DeploymentRuntime[] = [];
  const chaos = new ChaosRegistry();
  let status: StatusService | undefined;
  try {
    const started = await Promise.all(
      config.models.map((m) => Promise.all(m.deployments.map((d) => startDeployment(d, chaos)))),
    );
    const routes: ModelRoute[] = config.models.map((m, i) => ({
      name: m.name,
      ownedBy: m.owned_by,
      deployments: started[i]!,
    }));
    for (const list of started) deployments.push(...list);

    const keyStore = createSqlKeyStore(db.kysely);
    const keys: KeyLookup = { verify: (secret) => keyStore.verifyKey(secret) };
    // The chat app calls this gateway's own front door with a credential that lives only in this process.
    const appKey = `hf-app-${randomBytes(24).toString('base64url')}`;
    const authenticator = createAuthenticator({ ...(adminKey ? { adminKey } : {}), openMode, keys, appKey });
    const models = new ModelTable(routes);
    const engine = new ResilienceEngine({
      models: config.models,
      runtimes: new Map(deployments.map((d) => [d.config.id, d])),
      resilience: config.resilience,
      clock: opts.clock ?? systemClock,
      rng: opts.rng ?? Math.random,
    });
    const admission = new Admission({
      models: config.models,
      engine,
      clock: opts.clock ?? systemClock,
      defaultOutputTokens: config.limits.default_output_tokens,
      classes: {
        critical: toClass(config.admission.classes.critical),
        interactive: toClass(config.admission.classes.interactive),
        batch: toClass(config.admission.classes.batch),
      },
      limits: {
        initial: config.admission.initial_limit,
        min: config.admission.min_limit,
        max: config.admission.max_limit,
      },
    });
    const rateStore = new MemoryRateStore();
    // The request lifecycle, in order (docs/architecture.md): cheap refusals first.
    const chatStages: Stage[] = [
      authStage(authenticator),
      parseStage,
      createRouteStage(models),
      createRateLimitStage({ store: rateStore, limits: config.limits }),
      ...(config.admission.enabled ? [admission.stage] : []),
    ];
    const dispatch = composeDispatch(engine.dispatch, []);
    const inflight = new InFlight();
    let gatewayUrl = '';
    // --- status system (issue #6): computed from outcome records; probes use the app credential ---
    if (config.status.enabled) {
      status = new StatusService({
        db,
        config,
        engine,
        gateway: { url: () => gatewayUrl, key: appKey },
        onError: (err, what) => logger.error({ err }, `${what} failed`),
      });
      await status.start();
    }
    const statusService = status;
    let publishing: StatusPublishing | undefined;
    // --- end status system ---
    const chatApp: ChatApp | undefined = config.chat.enabled
      ? createChatApp({
          db,
          config,
          gateway: { url: () => gatewayUrl, key: appKey },
          health: () => modelHealth(config, engine, admission, statusService),
          onError: (err, what) => logger.error({ err }, `chat: ${what} failed`),
        })
      : undefined;
    if (chatApp) {
      const { recovered } = await chatApp.start();
      if (recovered.length > 0)
        logger.warn(
          { answers: recovered.length },
          'chat answers interrupted by the last shutdown are kept as incomplete',
        );
    }

    const app = buildServer({
      logger,
      bodyLimit: config.server.body_limit_bytes,
      trustProxy: config.server.trust_proxy,
      keepAliveMs: config.server.keepalive_s * 1000,
      chatStages,
      authenticator,
      dispatch,
      models,
      inflight,
      isReady: () => ready,
      isDraining: () => draining,
      chaos: { registry: chaos, deployments: () => deployments.map((d) => d.config.id) },
      queueReport: () => admission.report(),
      plugins: [
        ...(statusService
          ? [
              statusRoutes({
                service: statusService,
                authenticate: (h) => authenticator.authenticate(h),
                adminKey,
                db,
              }),
              (child: FastifyInstance) => {
                publishing = registerStatusPublishing(child, { view: statusService, config, db, logger });
              },
            ]
          : []),
        ...(chatApp ? [chatApp.plugin, registerWebRoutes] : []),
      ],
    });
    await app.listen({ host: config.server.host, port: config.server.port });
    const addr = app.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    gatewayUrl = `http://${host}:${addr.port}`;
    publishing?.start();
    ready = true;

    let closing: Promise<{ drained: boolean }> | undefined;
    return {
      url: `http://${host}:${addr.port}`,
      config,
      deployments,
      openMode,
      logger,
      keys: keyStore,
      engine,
      chaos,
      ...(statusService ? { status: statusService } : {}),
      close(graceMs = config.server.shutdown_grace_ms) {
        closing ??= (async () => {
          draining = true;
          // Chat answers first: each ends incomplete (continuable) with its text flushed, and its readers'
          // streams close so they reconnect elsewhere instead of holding the server open.
          await chatApp?.close(graceMs);
          const closed = app.close();
          const drained = await inflight.drain(graceMs);
          if (!drained) {
            logger.warn({ inflight: inflight.size }, 'shutdown grace ran out; cutting remaining requests');
            inflight.abortAll('server shutting down');
            app.server.closeAllConnections();
          }
          await closed;
          admission.close();
          await publishing?.close();
          await statusService?.close();
          await Promise.allSettled(deployments.map((d) => d.close()));
          await db.close();
          return { drained };
        })();
        return closing;
      },
    };
  } catch (err) {
    await status?.close();
    await Promise.allSettled(deployments.map((d) => d.close()));
    await db.close();
    throw err;
  }
}

/**
 * The chat banner's view of each model: the status system's component statuses when it runs (so the
 * banner and the status page agree), else the engine's deployment health.
 */
function modelHealth(
  config: Config,
  engine: ResilienceEngine,
  admission: Admission,
  status: StatusService | undefined,
): ModelHealth[] {
  const queues = new Map(admission.report().map((q) => [q.model, q]));
  if (status) {
    const BANNER = {
      operational: 'operational',
      degraded_performance: 'degraded',
      partial_outage: 'degraded',
      under_maintenance: 'degraded',
      major_outage: 'down',
    } as const;
    return status.modelStatuses().map((s) => {
      const q = queues.get(s.model);
      return {
        name: s.model,
        status: BANNER[s.status],
        ...(s.message ? { message: s.message } : {}),
        ...(q ? { queue: { queued: q.queued, estimatedWaitMs: q.estimatedWaitMs } } : {}),
      };
    });
  }
  return config.models.map((m) => {
    const states = m.deployments.map((d) => engine.health(d.id));
    const serving = states.filter((s) => s === 'healthy' || s === 'probing').length;
    const q = queues.get(m.name);
    const queue = q ? { queue: { queued: q.queued, estimatedWaitMs: q.estimatedWaitMs } } : {};
    if (serving === 0)
      return {
        name: m.name,
        status: 'down',
        message: 'No deployment of this model is answering right now.',
        ...queue,
      };
    if (serving < states.length || states.includes('suspect'))
      return {
        name: m.name,
        status: 'degraded',
        message: `${states.length - serving} of ${states.length} deployments of this model are failing; answers may be slower.`,
        ...queue,
      };
    return { name: m.name, status: 'operational', ...queue };
  });
}
