import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.ts';
import type { ChatUser, Session } from '../session.ts';
import type { KeyedLock } from './keyed-lock.ts';
import { clearSessionCookie, sessionSecretOf, setSessionCookie } from './session-cookie.ts';
import type { SessionStore } from './sessions.ts';
import type { LoginThrottle } from './throttle.ts';
import type { UserStore } from './users.ts';

export type ChatConfig = Config['chat'];

/** What the route files share: the stores, the policy, and session cookie handling. */
export interface AccountsContext {
  chat: ChatConfig;
  now: () => number;
  users: UserStore;
  sessions: SessionStore;
  throttle: LoginThrottle;
  loginLock: KeyedLock;
  /** The live session behind the request's cookie. */
  sessionOf(req: FastifyRequest): Promise<Session | undefined>;
  /**
   * Signs `user` in on this reply: a new session and its cookie. A session the browser already had is
   * ended, so one browser never holds two.
   */
  startSession(req: FastifyRequest, reply: FastifyReply, user: ChatUser): Promise<Session>;
  endSession(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export function createContext(
  base: Omit<AccountsContext, 'sessionOf' | 'startSession' | 'endSession'>,
): AccountsContext {
  const ttlS = Math.floor(base.chat.session_ttl_hours * 3600);
  const secure = base.chat.secure_cookies;
  return {
    ...base,
    async sessionOf(req) {
      const secret = sessionSecretOf(req);
      return secret === undefined ? undefined : base.sessions.resolve(secret);
    },
    async startSession(req, reply, user) {
      const old = sessionSecretOf(req);
      if (old !== undefined) await base.sessions.destroy(old);
      const s = await base.sessions.create(user.id);
      setSessionCookie(reply, s.secret, ttlS, secure);
      return { user, csrfToken: s.csrfToken };
    },
    async endSession(req, reply) {
      const secret = sessionSecretOf(req);
      if (secret !== undefined) await base.sessions.destroy(secret);
      clearSessionCookie(reply, secure);
    },
  };
}

/** Compares digests, so neither length nor content of the expected token leaks through timing. */
export function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
