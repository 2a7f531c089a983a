import type { FastifyReply, FastifyRequest } from 'fastify';
import { ChatError } from './errors.ts';

export type Role = 'user' | 'admin';

export interface ChatUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface Session {
  user: ChatUser;
  /** Sent back by the browser in `x-csrf-token` on every state-changing request. */
  csrfToken: string;
}

/** The accounts module's face to the rest of the chat app. */
export interface SessionResolver {
  /** The session behind the request's cookie, or undefined (none, expired, unknown). */
  sessionOf(req: FastifyRequest): Promise<Session | undefined>;
}

const sessions = new WeakMap<FastifyRequest, Session>();

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * preHandler for routes that need a signed-in user: 401 without a session, 403 `csrf_failed` for a
 * state-changing request without the session's CSRF token (a cookie alone proves nothing: any site can
 * make the browser send it).
 */
export function requireSession(resolver: SessionResolver) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const s = await resolver.sessionOf(req);
    if (!s) throw new ChatError('unauthorized');
    if (!SAFE_METHODS.has(req.method)) {
      const token = req.headers['x-csrf-token'];
      if (typeof token !== 'string' || !constantTimeEqual(token, s.csrfToken))
        throw new ChatError('csrf_failed');
    }
    sessions.set(req, s);
  };
}

/** The session `requireSession` found; only call it in routes behind that preHandler. */
export function sessionOf(req: FastifyRequest): Session {
  const s = sessions.get(req);
  if (!s) throw new ChatError('unauthorized');
  return s;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
