import type { FastifyReply, FastifyRequest } from 'fastify';
import { buildSetCookie, readCookie } from './cookies.ts';
import { SESSION_COOKIE } from './sessions.ts';

/** Adds a Set-Cookie without dropping one set earlier on the same reply. */
export function appendSetCookie(reply: FastifyReply, cookie: string): void {
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  reply.header('set-cookie', [...list, cookie]);
}

export function sessionSecretOf(req: FastifyRequest): string | undefined {
  return readCookie(req.headers.cookie, SESSION_COOKIE);
}

export function setSessionCookie(
  reply: FastifyReply,
  secret: string,
  maxAgeS: number,
  secure: boolean,
): void {
  appendSetCookie(
    reply,
    buildSetCookie(SESSION_COOKIE, secret, { maxAge: maxAgeS, path: '/', secure, sameSite: 'Lax' }),
  );
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  appendSetCookie(
    reply,
    buildSetCookie(SESSION_COOKIE, '', { maxAge: 0, path: '/', secure, sameSite: 'Lax' }),
  );
}
