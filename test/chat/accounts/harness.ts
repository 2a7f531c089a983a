import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { z } from 'zod';
import { type Accounts, createAccounts } from '../../../src/chat/accounts/index.ts';
import { chatPlugin } from '../../../src/chat/http.ts';
import { requireSession, sessionOf } from '../../../src/chat/session.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { type Db, openDatabase } from '../../../src/stores/database.ts';

export type ChatInput = z.input<typeof configSchema.shape.chat>;

/** A clock the test moves by hand. */
export function fakeClock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export interface Harness {
  app: FastifyInstance;
  accounts: Accounts;
  db: Db;
  close(): Promise<void>;
}

/**
 * The accounts routes inside chatPlugin, exactly as the app mounts them, plus a state-changing route
 * behind requireSession to check the CSRF guard against real sessions.
 */
export async function startHarness(
  opts: { chat?: ChatInput; now?: () => number; db?: Db } = {},
): Promise<Harness> {
  const db = opts.db ?? (await openDatabase({ data_dir: 'memory://' }));
  const chat = configSchema.shape.chat.parse(opts.chat ?? {});
  const accounts = createAccounts({ db: db.kysely, chat, ...(opts.now ? { now: opts.now } : {}) });
  const app = Fastify({ logger: false });
  await app.register(
    chatPlugin((a) => {
      accounts.register(a);
      a.post('/api/test/guarded', { preHandler: requireSession(accounts) }, async (req) => ({
        userId: sessionOf(req).user.id,
      }));
    }),
  );
  await app.ready();
  return {
    app,
    accounts,
    db,
    async close() {
      await app.close();
      if (!opts.db) await db.close();
    },
  };
}

/** The `name=value` part of the Set-Cookie for `name`, and the whole header line. */
export function setCookie(
  res: LightMyRequestResponse,
  name: string,
): { pair: string; line: string } | undefined {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  if (!line) return undefined;
  return { pair: line.split(';')[0] ?? '', line };
}

export interface Signed {
  cookie: string;
  csrfToken: string;
  user: { id: string; email: string; name: string; role: string };
}

export async function signup(
  app: FastifyInstance,
  body: { email: string; password: string; name: string },
): Promise<Signed> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: body });
  if (res.statusCode !== 201) throw new Error(`signup: ${res.statusCode} ${res.body}`);
  return signed(res);
}

export function signed(res: LightMyRequestResponse): Signed {
  const c = setCookie(res, 'hf_session');
  if (!c) throw new Error('no hf_session cookie');
  const body = res.json<{ csrfToken: string; user: Signed['user'] }>();
  return { cookie: c.pair, csrfToken: body.csrfToken, user: body.user };
}
