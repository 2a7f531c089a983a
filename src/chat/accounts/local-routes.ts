import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ChatError } from '../errors.ts';
import { parseBody } from '../http.ts';
import type { Session } from '../session.ts';
import { type AccountsContext, sameToken } from './context.ts';
import { hashPassword, needsRehash, PASSWORD_MAX, verifyAgainstDummy, verifyPassword } from './passwords.ts';
import { normaliseEmail, toChatUser } from './users.ts';

// Length caps here only bound the work; the real rules (email shape, password length) live in users.ts.
const signupBody = z.object({
  email: z.string().max(320),
  password: z.string().max(PASSWORD_MAX),
  name: z.string().max(1000),
});

const loginBody = z.object({
  email: z.string().max(320),
  password: z.string().max(PASSWORD_MAX),
});

function sendSession(reply: FastifyReply, status: number, s: Session) {
  // The body carries the CSRF token: no shared cache may keep it.
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ user: s.user, csrfToken: s.csrfToken });
}

/** Sign-up, sign-in, sign-out and "who am I" (docs/chat-api.md, Accounts). */
export function registerLocalRoutes(app: FastifyInstance, ctx: AccountsContext): void {
  app.post('/api/auth/signup', async (req, reply) => {
    const body = parseBody(signupBody, req.body);
    const user = await ctx.users.create({ email: body.email, name: body.name, password: body.password });
    return sendSession(reply, 201, await ctx.startSession(req, reply, user));
  });

  app.post('/api/auth/login', async (req, reply) => {
    const body = parseBody(loginBody, req.body);
    const email = normaliseEmail(body.email);
    const emailKey = `email:${email}`;
    const keys = [emailKey, `ip:${req.ip}`];
    const user = await ctx.loginLock.run(emailKey, async () => {
      const waitMs = ctx.throttle.retryAfterMs(keys);
      if (waitMs > 0)
        throw new ChatError('login_throttled', undefined, { retryAfterSec: Math.ceil(waitMs / 1000) });
      const row = await ctx.users.byEmail(email);
      const ok = row?.password_hash
        ? await verifyPassword(body.password, row.password_hash)
        : await verifyAgainstDummy(body.password);
      if (!row || !ok) {
        ctx.throttle.recordFailure(keys);
        throw new ChatError('invalid_credentials');
      }
      // Only the account's count is forgiven: one good password must not clear an IP that is guessing
      // at other accounts.
      ctx.throttle.reset(emailKey);
      if (row.password_hash && needsRehash(row.password_hash))
        await ctx.users.setPasswordHash(row.id, await hashPassword(body.password));
      return toChatUser(row);
    });
    return sendSession(reply, 200, await ctx.startSession(req, reply, user));
  });

  app.post('/api/auth/logout', async (req, reply) => {
    const s = await ctx.sessionOf(req);
    if (s) {
      // Without this any page could sign the user out by making the browser post here.
      const token = req.headers['x-csrf-token'];
      if (typeof token !== 'string' || !sameToken(token, s.csrfToken)) throw new ChatError('csrf_failed');
    }
    // No live session: nothing to protect, and a stale cookie is cleared all the same.
    await ctx.endSession(req, reply);
    return reply.code(204).send();
  });

  app.get('/api/auth/me', async (req, reply) => {
    const s = await ctx.sessionOf(req);
    if (!s) throw new ChatError('unauthorized');
    return sendSession(reply, 200, s);
  });
}
