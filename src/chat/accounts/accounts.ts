import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../stores/database.ts';
import type { ChatUser, Role, SessionResolver } from '../session.ts';
import { type ChatConfig, createContext } from './context.ts';
import { KeyedLock } from './keyed-lock.ts';
import { registerLocalRoutes } from './local-routes.ts';
import { registerOidcRoutes } from './oidc-routes.ts';
import { createSessionStore, type SessionOutage } from './sessions.ts';
import { LoginThrottle } from './throttle.ts';
import { createUserStore } from './users.ts';

export interface AccountsOptions {
  db: Kysely<Database>;
  chat: ChatConfig;
  /** Epoch milliseconds; injected so tests can expire sessions and lockouts without waiting. */
  now?: () => number;
  /** On PostgreSQL: sessions keep resolving from memory while it is unreachable (docs/postgres-outage.md). */
  outage?: SessionOutage;
}

export interface NewAccount {
  email: string;
  name: string;
  /** Omitted: an account that can only sign in through OIDC (or not at all until linked). */
  password?: string;
  /** Omitted: admin for the very first account, user after that. */
  role?: Role;
}

export interface Accounts extends SessionResolver {
  /** Adds the /api/auth routes; call inside chatPlugin, which supplies body parsing and error rendering. */
  register(app: FastifyInstance): void;
  /** Creates an account (seeding, admin tools, tests); ChatError `email_taken`/`invalid_request` on bad input. */
  createUser(input: NewAccount): Promise<ChatUser>;
}

export function createAccounts(opts: AccountsOptions): Accounts {
  const now = opts.now ?? Date.now;
  const lockoutMs = opts.chat.login_lockout_s * 1000;
  const users = createUserStore(opts.db);
  const ctx = createContext({
    chat: opts.chat,
    now,
    users,
    sessions: createSessionStore(opts.db, opts.chat.session_ttl_hours * 3_600_000, now, opts.outage),
    throttle: new LoginThrottle({
      maxFailures: opts.chat.login_attempts,
      windowMs: lockoutMs,
      lockoutMs,
      now,
    }),
    loginLock: new KeyedLock(),
  });
  return {
    sessionOf: (req) => ctx.sessionOf(req),
    createUser: (input) => users.create(input),
    register(app) {
      registerLocalRoutes(app, ctx);
      registerOidcRoutes(app, ctx);
    },
  };
}
