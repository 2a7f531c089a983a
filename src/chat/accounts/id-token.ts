import { type KeyObject, verify } from 'node:crypto';
import { z } from 'zod';

/** Why an ID token was refused; the message is for logs, never shown as proof of anything. */
export class IdTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdTokenError';
  }
}

const headerSchema = z.object({ alg: z.string(), kid: z.string().optional(), typ: z.string().optional() });

const claimsSchema = z.looseObject({
  iss: z.string(),
  sub: z.string().min(1).max(255),
  aud: z.union([z.string(), z.array(z.string())]),
  exp: z.number(),
  iat: z.number().optional(),
  nbf: z.number().optional(),
  azp: z.string().optional(),
  nonce: z.string().optional(),
  email: z.string().optional(),
  // Some providers send the string "true"; anything else is treated as unverified.
  email_verified: z.union([z.boolean(), z.string()]).optional(),
  name: z.string().optional(),
  preferred_username: z.string().optional(),
});

export type IdTokenClaims = z.infer<typeof claimsSchema>;

export interface VerifyIdTokenOptions {
  /** The signing key for a `kid` (undefined when the header has none), or undefined when unknown. */
  keyFor(kid: string | undefined): Promise<KeyObject | undefined>;
  issuer: string;
  clientId: string;
  /** The nonce sent in the authorization request; the token must echo it. */
  nonce: string;
  now: () => number;
  /** Clock skew tolerated on exp/nbf/iat, seconds. */
  skewS?: number;
}

/**
 * Checks an OpenID Connect ID token: RS256 only (an `alg` from the token itself is never trusted to
 * pick a weaker check), signature against the provider's key, then iss, aud/azp, exp, nbf, iat, nonce.
 */
export async function verifyIdToken(token: string, opts: VerifyIdTokenOptions): Promise<IdTokenClaims> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new IdTokenError('not a compact JWS');
  const [headerB64, payloadB64, signatureB64] = parts as [string, string, string];
  const header = headerSchema.safeParse(decodeJson(headerB64, 'header'));
  if (!header.success) throw new IdTokenError('malformed header');
  if (header.data.alg !== 'RS256') throw new IdTokenError(`unsupported alg ${header.data.alg}`);

  const key = await opts.keyFor(header.data.kid);
  if (!key) throw new IdTokenError(`no signing key for kid ${header.data.kid ?? '(none)'}`);
  const signature = Buffer.from(signatureB64, 'base64url');
  const signed = Buffer.from(`${headerB64}.${payloadB64}`, 'ascii');
  if (!verifySafely(signed, key, signature)) throw new IdTokenError('bad signature');

  const parsed = claimsSchema.safeParse(decodeJson(payloadB64, 'payload'));
  if (!parsed.success) throw new IdTokenError('malformed claims');
  const claims = parsed.data;
  const now = opts.now() / 1000;
  const skew = opts.skewS ?? 60;
  if (claims.iss !== opts.issuer) throw new IdTokenError('wrong issuer');
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!audiences.includes(opts.clientId)) throw new IdTokenError('wrong audience');
  if (audiences.length > 1 && claims.azp !== opts.clientId) throw new IdTokenError('wrong authorized party');
  if (claims.azp !== undefined && claims.azp !== opts.clientId)
    throw new IdTokenError('wrong authorized party');
  if (claims.exp <= now - skew) throw new IdTokenError('expired');
  if (claims.nbf !== undefined && claims.nbf > now + skew) throw new IdTokenError('not yet valid');
  if (claims.iat !== undefined && claims.iat > now + skew) throw new IdTokenError('issued in the future');
  if (claims.nonce === undefined || claims.nonce !== opts.nonce) throw new IdTokenError('wrong nonce');
  return claims;
}

export function emailVerified(claims: IdTokenClaims): boolean {
  return claims.email_verified === true || claims.email_verified === 'true';
}

function verifySafely(signed: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify('RSA-SHA256', signed, key, signature);
  } catch {
    // A key of another type or a garbled signature is a failed check, not a server error.
    return false;
  }
}

function decodeJson(b64: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
  } catch {
    throw new IdTokenError(`${what} is not base64url JSON`);
  }
}
