import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { Db } from '../../stores/database.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { type StatusEvent, type StatusView, statusEventChannel } from '../view.ts';
import { createExporter, type Exporter } from './exporter.ts';
import { createNotifier, type Notifier, type NotifierOptions } from './notifier.ts';
import { registerStatusRoutes } from './routes.ts';
import type { Resolver } from './ssrf.ts';

export interface PublishingDeps {
  view: StatusView;
  /** The whole config or just its `status` section. */
  config: Config | Config['status'];
  db: Db;
  logger: Logger;
  /** Test seams and tuning. */
  resolve?: Resolver;
  notifier?: Partial<Omit<NotifierOptions, 'db' | 'view' | 'config' | 'logger'>>;
  exportDebounceMs?: number;
  cacheMs?: number;
  subscribeLimit?: number;
}

export interface StatusPublishing {
  /** Starts the notification worker and the export on change (and exports once now). */
  start(): void;
  /** Stops listening, finishes a pending export and the worker's current pass. */
  close(): Promise<void>;
  readonly notifier: Notifier;
  readonly exporter: Exporter;
}

function statusSection(c: Config | Config['status']): Config['status'] {
  return 'models' in c ? c.status : c;
}

/**
 * The publishing side of the status system: the page, badges, banner JSON and feeds under /status, the
 * subscriber API, notifications from the outbox, and the static export. Call inside a Fastify plugin
 * (ServerDeps.plugins): it installs its own body parsers in that context.
 *
 *   plugins: [(app) => { publishing = registerStatusPublishing(app, { view, config, db, logger }) }]
 *   …once listening: publishing.start(); at shutdown: await publishing.close()
 */
export function registerStatusPublishing(app: FastifyInstance, deps: PublishingDeps): StatusPublishing {
  const config = statusSection(deps.config);
  const logger = deps.logger;
  const notifier = createNotifier({
    db: deps.db,
    view: deps.view,
    config,
    logger,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    ...deps.notifier,
  });
  const exporter = createExporter({
    view: deps.view,
    config,
    logger,
    ...(deps.exportDebounceMs !== undefined ? { debounceMs: deps.exportDebounceMs } : {}),
  });
  const routes = registerStatusRoutes(app, {
    view: deps.view,
    config,
    db: deps.db,
    logger,
    notifier,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    ...(deps.cacheMs !== undefined ? { cacheMs: deps.cacheMs } : {}),
    ...(deps.subscribeLimit !== undefined ? { subscribeLimit: deps.subscribeLimit } : {}),
  });
  const listener = (message: unknown) => {
    const ev = message as StatusEvent;
    routes.invalidate();
    exporter.schedule();
    void notifier.onEvent(ev);
  };
  let started = false;
  return {
    notifier,
    exporter,
    start() {
      if (started) return;
      started = true;
      statusEventChannel.subscribe(listener);
      notifier.start();
      // The copy on disk is rewritten at start, so it never describes an older run.
      exporter.schedule();
    },
    async close() {
      if (started) statusEventChannel.unsubscribe(listener);
      started = false;
      await exporter.close();
      await notifier.close();
    },
  };
}

export { writeSiteDir } from './exporter.ts';
export { SIGNATURE_HEADER, verify as verifyWebhookSignature } from './signature.ts';
export { renderSite } from './site.ts';
export { listSubscribers } from './subscribers.ts';
export { V2_PATHS, v2Document, v2Documents } from './v2-json.ts';
