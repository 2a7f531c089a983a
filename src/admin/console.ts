import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ChaosRegistry } from '../chaos/registry.ts';
import { ChaosLimitError } from '../chaos/registry.ts';
import { HoldfastError } from '../core/errors.ts';
import { errorHeaders, fromFastifyError } from '../http/errors.ts';
import type { Caller } from '../pipeline/context.ts';
import type { ResilienceEngine } from '../pipeline/resilient.ts';
import { openaiDoor } from '../providers/openai/door.ts';
import { SessionStore } from '../status/admin/session.ts';
import type { StatusService } from '../status/service.ts';
import type { Db } from '../stores/database.ts';
import type { KeyStore } from '../stores/keys.ts';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../telemetry/outcome.ts';
import { registerAdminApi } from './api.ts';
import { ConsoleAuth } from './auth.ts';
import { type AdmissionView, chainHealth, preferenceOrder } from './deployments.ts';
import { DrillRunner } from './drills.ts';
import { LastFailures } from './failures.ts';
import { registerConsolePages } from './pages.ts';

export interface AdminConsoleOptions {
  /** Getters: a config reload may swap the engine and admission control. */
  engine(): ResilienceEngine;
  admission(): AdmissionView | undefined;
  chaos: ChaosRegistry;
  /** Ids of the deployments that exist now. */
  deployments(): readonly string[];
  keys: KeyStore;
  /** Drops the authenticator's cache of verified keys (a revocation then takes effect at once here). */
  forgetKeys?: () => void;
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
  adminKey: string | undefined;
  /** Operator sessions shared with /status/admin; a private store when absent. */
  sessions?: SessionStore;
  db: Db;
  status?: StatusService | undefined;
  logger: {
    warn(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
}

/** How often a running drill applies due steps and looks at health. */
const TICK_MS = 500;

/**
 * The operators' console at /admin (docs/admin-console.md): the page, its JSON API under /admin/api,
 * and the drill runner's wiring to the clock and the outcome channel. Register it as one of the
 * server's plugins (its own Fastify context: the error handler here answers only its routes).
 */
export function adminConsole(o: AdminConsoleOptions): (app: FastifyInstance) => void {
  return (app) => {
    const sessions = o.sessions ?? new SessionStore({ adminKey: o.adminKey });
    const auth = new ConsoleAuth({ sessions, authenticate: o.authenticate });
    const failures = new LastFailures();
    let ticker: NodeJS.Timeout | undefined;
    const onOutcome = (m: unknown): void => drills.observe(m as OutcomeRecord);
    const drills = new DrillRunner({
      chaos: o.chaos,
      // The chaos registry's clock, so drill and fault times agree.
      now: () => o.chaos.now(),
      gateway: {
        deploymentsOf: (model) => preferenceOrder(o.engine(), model),
        health: (model) => chainHealth(o.engine(), model, o.chaos.now()),
      },
      onEnd: (report) => {
        // Outcome records are only listened to while a drill runs: no cost per request otherwise.
        unsubscribe(OUTCOME_CHANNEL, onOutcome);
        clearInterval(ticker);
        ticker = undefined;
        o.logger.info(
          { drill: report.id, state: report.state, requests: report.requests, ejections: report.ejections },
          'chaos drill ended',
        );
      },
    });

    app.setErrorHandler((err, req, reply) => {
      const e =
        err instanceof ChaosLimitError
          ? new HoldfastError('invalid_request', { message: err.message })
          : err instanceof RangeError
            ? new HoldfastError('invalid_request', { message: err.message })
            : fromFastifyError(err);
      if (e.code === 'internal_error')
        o.logger.error({ err, reqId: req.id }, 'admin console: internal error');
      reply
        .code(e.status)
        .headers(errorHeaders(e))
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(openaiDoor.renderError(e)));
    });

    registerConsolePages(app);
    registerAdminApi(app, {
      auth,
      engine: o.engine,
      admission: o.admission,
      chaos: o.chaos,
      deployments: o.deployments,
      keys: o.keys,
      ...(o.forgetKeys ? { forgetKeys: o.forgetKeys } : {}),
      db: o.db,
      status: o.status,
      drills,
      failures,
      onDrillStarted: () => {
        subscribe(OUTCOME_CHANNEL, onOutcome);
        ticker ??= setInterval(() => drills.tick(), TICK_MS);
        ticker.unref();
      },
      logger: o.logger,
      now: Date.now,
    });

    app.addHook('onClose', async () => {
      // A drill outliving the server would leave faults in a registry nobody can reach.
      drills.stop();
      failures.close();
    });
  };
}
