import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ChatError } from '../errors.ts';
import type { ChatUser } from '../session.ts';
import { type AccountsContext, sameToken } from './context.ts';
import { buildSetCookie, readCookie } from './cookies.ts';
import { emailVerified, type IdTokenClaims, IdTokenError } from './id-token.ts';
import { createOidcClient, type OidcClient, OidcError } from './oidc-client.ts';
import { PENDING_TTL_MS, PendingLogins } from './oidc-pending.ts';
import { appendSetCookie } from './session-cookie.ts';
import { isValidEmail, NAME_MAX, normaliseEmail, toChatUser, type UserStore } from './users.ts';

/**
 * Holds the `state` of a sign-in in the browser that started it. The server-side record alone would
 * let an attacker start a sign-in, then hand a victim the callback link and sign them in as the
 * attacker; the callback insists that cookie and query agree.
 */
export const STATE_COOKIE = 'hf_oidc';
const STATE_COOKIE_PATH = '/api/auth/oidc';

const callbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(512).optional(),
  error: z.string().max(256).optional(),
});

/** OIDC sign-in (docs/chat-accounts.md): authorization code flow with PKCE, state and nonce. */
export function registerOidcRoutes(app: FastifyInstance, ctx: AccountsContext): void {
  const config = ctx.chat.oidc;
  const client: OidcClient | undefined = config ? createOidcClient(config, ctx.now) : undefined;
  const pending = new PendingLogins(ctx.now);
  const secure = ctx.chat.secure_cookies;

  const stateCookie = (value: string, maxAgeS: number) =>
    buildSetCookie(STATE_COOKIE, value, {
      maxAge: maxAgeS,
      path: STATE_COOKIE_PATH,
      secure,
      sameSite: 'Lax',
    });

  app.get('/api/auth/oidc/start', async (req, reply) => {
    if (!client) throw new ChatError('oidc_unavailable');
    const started = pending.start();
    const location = await client.authorizationUrl(started).catch((error: unknown) => {
      throw failed(req, error, 'The sign-in provider could not be reached.');
    });
    appendSetCookie(reply, stateCookie(started.state, Math.floor(PENDING_TTL_MS / 1000)));
    return reply.code(302).header('cache-control', 'no-store').header('location', location).send();
  });

  app.get('/api/auth/oidc/callback', async (req, reply) => {
    if (!client) throw new ChatError('oidc_unavailable');
    // One attempt per start, whatever happens next.
    appendSetCookie(reply, stateCookie('', 0));
    reply.header('cache-control', 'no-store');
    const query = callbackQuery.safeParse(req.query ?? {});
    if (!query.success) throw new ChatError('oidc_failed');
    const { code, state, error } = query.data;
    if (error !== undefined) {
      const shown = /^[a-z_]{1,64}$/.test(error) ? `: ${error}` : '';
      throw new ChatError('oidc_failed', `The sign-in provider refused the sign-in${shown}.`);
    }
    const browserState = readCookie(req.headers.cookie, STATE_COOKIE);
    if (!code || !state || !browserState || !sameToken(state, browserState))
      throw new ChatError('oidc_failed', 'This sign-in was not started in this browser; try again.');
    const started = pending.take(state);
    if (!started)
      throw new ChatError('oidc_failed', 'This sign-in has expired or was already used; try again.');

    let claims: IdTokenClaims;
    try {
      claims = await client.redeem({ code, codeVerifier: started.codeVerifier, nonce: started.nonce });
    } catch (e) {
      throw failed(req, e, 'The sign-in provider did not confirm who you are.');
    }
    const user = await userForClaims(ctx.users, claims);
    await ctx.startSession(req, reply, user);
    return reply.code(302).header('location', '/').send();
  });
}

function failed(req: FastifyRequest, error: unknown, message: string): ChatError {
  if (error instanceof ChatError) return error;
  if (error instanceof OidcError || error instanceof IdTokenError) {
    req.log?.warn?.({ err: error }, 'oidc sign-in refused');
    return new ChatError('oidc_failed', message, { cause: error });
  }
  return new ChatError('internal', undefined, { cause: error });
}

/**
 * The account behind a verified ID token: the one already linked to this identity; else the one with
 * the same email, linked now, but only if the provider vouches for the address (otherwise anyone
 * could claim someone's email at a lax provider and take over their account); else a new one.
 */
async function userForClaims(users: UserStore, claims: IdTokenClaims): Promise<ChatUser> {
  // Subjects are unique per issuer only, so the stored identity names both.
  const subject = `${claims.iss}#${claims.sub}`;
  const linked = await users.byOidcSubject(subject);
  if (linked) return toChatUser(linked);

  const email = claims.email === undefined ? '' : normaliseEmail(claims.email);
  if (!isValidEmail(email))
    throw new ChatError('oidc_failed', 'The sign-in provider did not share a usable email address.');
  const existing = await users.byEmail(email);
  if (existing) {
    if (!emailVerified(claims))
      throw new ChatError(
        'email_taken',
        'An account with this email already exists, and the sign-in provider has not verified the address.',
      );
    if (!(await users.linkOidc(existing.id, subject)))
      throw new ChatError(
        'oidc_failed',
        'This account is already linked to another single sign-on identity.',
      );
    return toChatUser(existing);
  }
  return users.create({ email, name: displayName(claims), oidcSubject: subject });
}

function displayName(claims: IdTokenClaims): string {
  const email = claims.email?.trim() ?? '';
  const name = claims.name?.trim() || claims.preferred_username?.trim() || email.split('@')[0] || email;
  return name.slice(0, NAME_MAX);
}
