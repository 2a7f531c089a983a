import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HoldfastError } from '../core/errors.ts';
import { presentedKey } from '../pipeline/auth.ts';
import type { Caller } from '../pipeline/context.ts';
import {
  cookie,
  parseCookies,
  type Session,
  type SessionStore,
  ADMIN_PATH as STATUS_ADMIN_PATH,
  SESSION_COOKIE as STATUS_SESSION_COOKIE,
  sameSecret,
} from '../status/admin/session.ts';

export const CONSOLE_PATH = '/admin';
/** The console's session cookie: HttpOnly, SameSite=Strict, scoped to /admin. */
export const CONSOLE_COOKIE = 'hf_admin';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Operator = { via: 'key' } | { via: 'session'; session: Session };

export interface ConsoleAuthDeps {
  /** Operator sessions, shared with the status admin pages (one sign-in opens both). */
  sessions: SessionStore;
  /** The gateway's authenticator: a bearer admin key works like it does on /admin/chaos. */
  authenticate(headers: IncomingHttpHeaders): Promise<Caller>;
}

/**
 * Who may use the console: whoever presents the admin key, either on each request (Authorization:
 * Bearer or x-api-key, for scripts) or once at sign-in for a session cookie (browsers). Cookie sessions
 * are the ambient credential a forged cross-site request would ride on, so every change made through
 * one must carry the session's CSRF token in `x-csrf-token`; key requests need none.
 *
 * A chat account with the admin role is not an operator: the first sign-up on a fresh instance gets that
 * role, and chaos faults and API keys must not be one sign-up away.
 */
export class ConsoleAuth {
  readonly #deps: ConsoleAuthDeps;

  constructor(deps: ConsoleAuthDeps) {
    this.#deps = deps;
  }

  get enabled(): boolean {
    return this.#deps.sessions.enabled;
  }

  /** The operator behind a request, or the registry error to answer with (401, 403, csrf_failed). */
  async operator(req: FastifyRequest): Promise<Operator> {
    if (presentedKey(req.headers) !== undefined) {
      const caller = await this.#deps.authenticate(req.headers);
      if (caller.kind !== 'admin')
        throw new HoldfastError('admin_required', { message: 'The admin console needs the admin key.' });
      return { via: 'key' };
    }
    const session = this.session(req);
    if (!session) {
      throw new HoldfastError('invalid_api_key', {
        message: 'Sign in at /admin, or send the admin key as Authorization: Bearer.',
      });
    }
    if (!SAFE_METHODS.has(req.method)) {
      const token = req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !sameSecret(token, session.csrf))
        throw new HoldfastError('csrf_failed');
    }
    return { via: 'session', session };
  }

  session(req: FastifyRequest): Session | undefined {
    return this.#deps.sessions.get(parseCookies(req.headers.cookie).get(CONSOLE_COOKIE));
  }

  /** Signs in with the admin key: sets the console's cookie and the status admin pages' one. */
  signIn(req: FastifyRequest, reply: FastifyReply, key: unknown): Session {
    const { sessions } = this.#deps;
    if (!sessions.enabled) {
      throw new HoldfastError('admin_required', {
        message: 'No admin key is configured: set HOLDFAST_ADMIN_KEY (or auth.admin_key) and restart.',
      });
    }
    if (sessions.locked(req.ip)) {
      throw new HoldfastError('rate_limited', {
        message: 'Too many failed sign-ins from this address. Try again later.',
        retryAfterSec: 60,
      });
    }
    const s = typeof key === 'string' && key !== '' ? sessions.signIn(key, req.ip) : undefined;
    if (!s) throw new HoldfastError('invalid_api_key', { message: 'That is not the admin key.' });
    this.#setCookies(req, reply, s.token, sessions.ttlMs / 1000);
    return s;
  }

  signOut(req: FastifyRequest, reply: FastifyReply, op: Operator): void {
    if (op.via === 'session') this.#deps.sessions.signOut(op.session.token);
    this.#setCookies(req, reply, '', 0);
  }

  #setCookies(req: FastifyRequest, reply: FastifyReply, token: string, maxAgeS: number): void {
    const secure = req.protocol === 'https';
    reply.header('set-cookie', [
      cookie(CONSOLE_COOKIE, token, { maxAgeS, secure, path: CONSOLE_PATH }),
      cookie(STATUS_SESSION_COOKIE, token, { maxAgeS, secure, path: STATUS_ADMIN_PATH }),
    ]);
  }
}
