import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { z } from 'zod';
import { type Config, configSchema } from '../../../src/config/schema.ts';
import {
  type PublishingDeps,
  registerStatusPublishing,
  type StatusPublishing,
} from '../../../src/status/publish/index.ts';
import { type Db, openDatabase } from '../../../src/stores/database.ts';
import { FakeView } from './fake-view.ts';

export type StatusConfigInput = z.input<typeof configSchema.shape.status>;

export function statusConfig(input: StatusConfigInput = {}): Config['status'] {
  return configSchema.shape.status.parse(input);
}

export const silent = pino({ level: 'silent' });

export interface Harness {
  app: FastifyInstance;
  url: string;
  db: Db;
  view: FakeView;
  config: Config['status'];
  publishing: StatusPublishing;
  close(): Promise<void>;
}

/**
 * The publishing routes on a Fastify app shaped like the gateway's: the root parses every body as JSON
 * and the status face lives in its own plugin context, as ServerDeps.plugins gives it.
 */
export async function startHarness(
  opts: {
    config?: StatusConfigInput;
    view?: FakeView;
    deps?: Partial<PublishingDeps>;
    listen?: boolean;
  } = {},
): Promise<Harness> {
  const db = await openDatabase({ data_dir: 'memory://' });
  const view = opts.view ?? new FakeView();
  const config = statusConfig(opts.config);
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(String(body)));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  let publishing: StatusPublishing | undefined;
  app.register(async (child) => {
    publishing = registerStatusPublishing(child, {
      view,
      config,
      db,
      logger: silent,
      cacheMs: 0,
      ...opts.deps,
    });
  });
  let url = '';
  if (opts.listen) url = await app.listen({ host: '127.0.0.1', port: 0 });
  else await app.ready();
  return {
    app,
    url,
    db,
    view,
    config,
    publishing: publishing!,
    async close() {
      await publishing!.close();
      await app.close();
      await db.close();
    },
  };
}

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  url: string;
  at: number;
}

/** A local HTTP receiver; `answer` picks each response's status (default 200). */
export async function startReceiver(answer: (n: number, r: Received) => number = () => 200): Promise<{
  url: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        url: req.url ?? '',
        at: Date.now(),
      };
      received.push(r);
      res.statusCode = answer(received.length, r);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A clock tests move by hand. */
export function manualClock(start = Date.now()) {
  let t = start;
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
}
