import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { adminConsole } from './admin/console.ts';
import { ChaosRegistry } from './chaos/registry.ts';
import { type ChatApp, createChatApp } from './chat/app.ts';
import type { ModelHealth } from './chat/status-route.ts';
import { checkConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { drainServer } from './http/drain.ts';
import { InFlight } from './http/inflight.ts';
import { buildServer } from './http/server.ts';
import { MemoryRateStore } from './overload/rate-store.ts';
import type { Admission } from './pipeline/admission.ts';
import { createAuthenticator, type KeyLookup } from './pipeline/auth.ts';
import type { ResilienceEngine } from './pipeline/resilient.ts';
import type { DeploymentRuntime } from './providers/registry.ts';
import { type Clock, type Rng, systemClock } from './resilience/types.ts';
import {
  buildGeneration,
  type Generation,
  type GenerationShared,
  retireGeneration,
} from './runtime/generation.ts';
import { type ConfigChange, diffConfig, effectiveConfig } from './runtime/reload.ts';
import {
  openStoreOutage,
  type StoreOutage,
  storeHealthRoutes,
  storePoolOptions,
} from './runtime/store-outage.ts';
import { SessionStore } from './status/admin/session.ts';
import { clusterStatusOptions } from './status/cluster.ts';
import { registerStatusPublishing, type StatusPublishing } from './status/publish/index.ts';
import { statusRoutes } from './status/routes.ts';
import { type EngineHooks, StatusService } from './status/service.ts';
import { openDatabase } from './stores/database.ts';
import { createSqlKeyStore, type KeyStore } from './stores/keys.ts';
import type { SharedState } from './stores/redis/shared-state.ts';
import { redisUrlOf } from './stores/redis/url.ts';
import { createLogger, type DestinationStream, type Logger, secretsIn } from './telemetry/logger.ts';
import { metricsPlugin } from './telemetry/metrics/route.ts';
import type { TracingHooks } from './telemetry/tracing.ts';
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
  /** State shared with the other replicas through Redis (docs/scale-out.md); absent without a Redis URL. */
  readonly sharedState?: SharedState;
  /** PostgreSQL's outage buffer (docs/postgres-outage.md); absent on PGlite or when disabled. */
  readonly storeOutage?: StoreOutage;
  /** The HTTP app itself, so tests and the fuzzer can drive it in-process with `inject()`. */
  readonly app: FastifyInstance;
  /** Which config generation serves new requests: 1 at start, one more per applied reload. */
  readonly generation: number;
  /**
   * Applies a new config without a restart (docs/hot-reload.md): the reloadable sections
   * take effect for new requests, requests already running finish on the config they started with, and
   * other changed sections are reported as needing a restart. Throws ConfigError for an invalid result.
   */
  reload(next: Config): Promise<ReloadResult>;
  /**
   * Drains and stops (docs/scale-out.md#drain-and-rolling-restart): readiness fails at once; after
   * `drainDelayMs` (default 0; `holdfast start` passes server.drain_delay_ms on SIGTERM) the listener
   * closes, in-flight requests get `graceMs` to finish and are then cut, and everything is released.
   */
  close(graceMs?: number, opts?: { drainDelayMs?: number }): Promise<{ drained: boolean }>;
}

export interface ReloadResult extends ConfigChange {
  generation: number;
  /** Deployments whose runtime and learnt state were kept (their config did not change). */
  carried: string[];
}

export interface StartOptions {
  /** Overrides config.log.level (tests use 'silent'). */
  logLevel?: string;
  /** Where log lines go instead of stdout (tests read them back). */
  logDestination?: DestinationStream;
  env?: NodeJS.ProcessEnv;
  /** Injected for deterministic tests of the resilience engine. */
  clock?: Clock;
  rng?: Rng;
  /** Tests: where trace spans go instead of OTLP (telemetry.tracing must be enabled). */
  tracing?: TracingHooks;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
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
  // Every secret the config and environment hold is scrubbed from log lines, whatever field it rides in.
  const logger = createLogger(opts.logLevel ?? config.log.level, {
    secrets: [...secretsIn(config), ...secretsIn(env)],
    ...(opts.logDestination ? { destination: opts.logDestination } : {}),
  });
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
    ...storePoolOptions(config.store),
  });
  const chaos = new ChaosRegistry();
  let status: StatusService | undefined;
  let sharedState: SharedState | undefined;
  let gen: Generation | undefined;
  let outage: StoreOutage | undefined;
  try {
    // PostgreSQL down: writes buffered on disk, known keys and sessions kept (docs/postgres-outage.md).
    // Opened first, so what an earlier run buffered is replayed before anything reads the database.
    outage = await openStoreOutage(config.store, db, logger);
    const storeOutage = outage;
    const keyStore = createSqlKeyStore(db.kysely);
    const keys: KeyLookup = storeOutage
      ? storeOutage.keys(keyStore)
      : { verify: (secret) => keyStore.verifyKey(secret) };
    // The chat app calls this gateway's own front door with a credential that lives only in this process.
    const appKey = `hf-app-${randomBytes(24).toString('base64url')}`;
    const authenticator = createAuthenticator({ ...(adminKey ? { adminKey } : {}), openMode, keys, appKey });
    // Rate limits, replica membership and ejections are shared through Redis when one is configured.
    // ioredis and the shared-state code are loaded only when a Redis is configured: memory matters on
    // a single node too.
    const redis = redisUrlOf(config.shared_state, env)
      ? {
          ...(await import('./stores/redis/shared-state.ts')),
          ...(await import('./stores/redis/routes.ts')),
        }
      : undefined;
    sharedState = await redis?.openSharedState(config.shared_state, { env, logger });
    const shared: GenerationShared = {
      chaos,
      rateStore: sharedState?.rateStore ?? new MemoryRateStore(),
      authenticator,
      clock: opts.clock ?? systemClock,
      rng: opts.rng ?? Math.random,
    };
    // Models, deployments, engine, admission and stages: rebuilt by a config reload (src/runtime).
    gen = await buildGeneration(config, shared);
    let current: Generation = gen;
    const now = (): Generation => current;
    // Whoever outlives a reload reads the engine through this, never a generation's engine directly.
    const engine: EngineHooks = {
      health: (id) => (current.engine.deployments.has(id) ? current.engine.health(id) : 'healthy'),
      drain: (ids, on) => current.engine.drain(ids, on),
    };
    // The chat app reads models and limits when it needs them: a live view follows reloads.
    const live = new Proxy({} as Config, { get: (_t, k) => Reflect.get(current.config, k) });
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
        ...(storeOutage ? { outage: storeOutage.buffer } : {}),
        // With replicas: counts summed through Redis, one evaluator (docs/status.md#several-replicas).
        ...clusterStatusOptions(sharedState, db, config),
      });
      await status.start();
    }
    const statusService = status;
    let publishing: StatusPublishing | undefined;
    // --- end status system ---
    const chatApp: ChatApp | undefined = config.chat.enabled
      ? createChatApp({
          db,
          config: live,
          gateway: { url: () => gatewayUrl, key: appKey },
          health: () => modelHealth(current.config, current.engine, current.admission, statusService),
          onError: (err, what) => logger.error({ err }, `chat: ${what} failed`),
          ...(storeOutage
            ? {
                outage: {
                  guard: storeOutage.buffer,
                  health: storeOutage.health,
                  credentialsTtlMs: storeOutage.credentialsTtlMs,
                },
              }
            : {}),
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

    // Read through `current`, so every reader follows config reloads.
    const deploymentIds = (): string[] => current.deployments.map((d) => d.config.id);
    const localQueues = () => current.admission.report();
    // Operators sign in once for the admin console (/admin) and the status admin pages (/status/admin).
    const operatorSessions = new SessionStore({ adminKey });
    const app = buildServer({
      logger,
      bodyLimit: config.server.body_limit_bytes,
      trustProxy: config.server.trust_proxy,
      limits: config.server,
      keepAliveMs: config.server.keepalive_s * 1000,
      pipeline: now,
      authenticator,
      inflight,
      isReady: () => ready,
      isDraining: () => draining,
      chaos: { registry: chaos, deployments: deploymentIds },
      // With replicas, the waiting room counts every replica's queue (shared state, docs/scale-out.md).
      queueReport: () => sharedState?.queues(localQueues()) ?? localQueues(),
      plugins: [
        ...(statusService
          ? [
              statusRoutes({
                service: statusService,
                authenticate: (h) => authenticator.authenticate(h),
                adminKey,
                db,
                sessions: operatorSessions,
              }),
              (child: FastifyInstance) => {
                publishing = registerStatusPublishing(child, { view: statusService, config, db, logger });
              },
            ]
          : []),
        ...(chatApp ? [chatApp.plugin, registerWebRoutes] : []),
        ...(sharedState && redis
          ? [redis.sharedStateRoutes(sharedState, (h) => authenticator.authenticate(h))]
          : []),
        ...(storeOutage ? [storeHealthRoutes(storeOutage)] : []),
        metricsPlugin({
          config: () => current.config,
          engine: () => current.engine,
          queues: localQueues,
          db,
          status: () => statusService,
          redis: () => sharedState,
          outageBuffer: () => storeOutage?.health(),
          openMode,
          authenticate: (h) => authenticator.authenticate(h),
        }),
        adminConsole({
          engine: () => current.engine,
          admission: () => (current.config.admission.enabled ? current.admission : undefined),
          chaos,
          deployments: deploymentIds,
          keys: keyStore,
          forgetKeys: () => {
            authenticator.forgetKeys?.();
            storeOutage?.forgetKeys();
          },
          authenticate: (h) => authenticator.authenticate(h),
          adminKey,
          sessions: operatorSessions,
          db,
          status: statusService,
          logger,
        }),
      ],
    });
    await app.listen({ host: config.server.host, port: config.server.port });
    // The OpenTelemetry SDK is loaded only when tracing is on.
    const tracing = config.telemetry.tracing.enabled
      ? (await import('./telemetry/tracing.ts')).startTracing(config.telemetry.tracing, {
          ...opts.tracing,
          env,
          logger,
          deployments: () => current.deployments,
        })
      : undefined;
    const addr = app.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    gatewayUrl = `http://${host}:${addr.port}`;
    await sharedState?.start({
      url: gatewayUrl,
      engine: () => current.engine,
      queues: localQueues,
      admission: () => current.admission,
    });
    publishing?.start();
    ready = true;

    // Reloads run one at a time; a replaced generation finishes its requests in the background.
    let reloading: Promise<unknown> = Promise.resolve();
    const retiring = new Set<Promise<void>>();
    const reload = (next: Config): Promise<ReloadResult> => {
      const run = reloading.then(async (): Promise<ReloadResult> => {
        if (draining) throw new Error('the gateway is shutting down');
        const old = current;
        const change = diffConfig(old.config, next);
        if (change.applied.length === 0) return { ...change, generation: old.number, carried: [] };
        const effective = checkConfig(effectiveConfig(old.config, next), 'reloaded config');
        const fresh = await buildGeneration(effective, shared, old);
        current = fresh;
        if (change.applied.includes('log')) logger.level = effective.log.level;
        const done: Promise<void> = retireGeneration(old, fresh)
          .catch((err: unknown) => logger.error({ err }, 'retiring the previous config failed'))
          .finally(() => retiring.delete(done));
        retiring.add(done);
        const carried = fresh.deployments.filter((d) => old.deployments.includes(d)).map((d) => d.config.id);
        return { ...change, generation: fresh.number, carried };
      });
      reloading = run.catch(() => undefined);
      return run;
    };

    let closing: Promise<{ drained: boolean }> | undefined;
    return {
      url: `http://${host}:${addr.port}`,
      get config() {
        return current.config;
      },
      get deployments() {
        return current.deployments;
      },
      openMode,
      logger,
      keys: keyStore,
      get engine() {
        return current.engine;
      },
      get generation() {
        return current.number;
      },
      reload,
      chaos,
      app,
      ...(statusService ? { status: statusService } : {}),
      ...(sharedState ? { sharedState } : {}),
      ...(storeOutage ? { storeOutage } : {}),
      close(graceMs = config.server.shutdown_grace_ms, opts = {}) {
        closing ??= (async () => {
          // Readiness fails first while everything is still served; then the listener closes, chat
          // readers are handed over to other replicas and running work gets the grace (src/http/drain.ts).
          const { drained } = await drainServer(
            {
              server: app.server,
              closeServer: () => app.close(),
              inflight,
              ...(chatApp ? { chat: chatApp } : {}),
              logger,
              onPhase: (phase) => {
                draining = phase !== 'serving';
              },
            },
            { delayMs: opts.drainDelayMs ?? 0, graceMs },
          );
          await Promise.allSettled(retiring);
          current.admission.close();
          await publishing?.close();
          await statusService?.close();
          await Promise.allSettled(current.deployments.map((d) => d.close()));
          await tracing?.shutdown();
          await sharedState?.close();
          await storeOutage?.close();
          await db.close();
          return { drained };
        })();
        return closing;
      },
    };
  } catch (err) {
    await status?.close();
    gen?.admission.close();
    await Promise.allSettled((gen?.deployments ?? []).map((d) => d.close()));
    await sharedState?.close();
    await outage?.close();
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
