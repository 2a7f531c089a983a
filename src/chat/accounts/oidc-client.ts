import { createPublicKey, type JsonWebKeyInput, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../../config/schema.ts';
import { type IdTokenClaims, verifyIdToken } from './id-token.ts';

export type OidcConfig = NonNullable<Config['chat']['oidc']>;

/** A provider that misbehaves or a response we cannot trust; details for logs only. */
export class OidcError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? {} : { cause: opts.cause });
    this.name = 'OidcError';
  }
}

const discoverySchema = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  jwks_uri: z.url(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
});
type Discovery = z.infer<typeof discoverySchema>;

const jwkSchema = z.looseObject({
  kty: z.string(),
  kid: z.string().optional(),
  use: z.string().optional(),
  alg: z.string().optional(),
});
const jwksSchema = z.object({ keys: z.array(jwkSchema) });

const tokenResponseSchema = z.looseObject({ id_token: z.string().min(1) });

const HTTP_TIMEOUT_MS = 10_000;
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
const JWKS_TTL_MS = 24 * 60 * 60 * 1000;
/** An unknown kid refetches the JWKS (key rotation), but not more often than this. */
const JWKS_REFRESH_MIN_MS = 30_000;

export interface OidcClient {
  /** Where to send the browser to sign in (authorization code flow, PKCE S256). */
  authorizationUrl(p: { state: string; nonce: string; codeChallenge: string }): Promise<string>;
  /** Redeems the code at the token endpoint and returns the verified ID token's claims. */
  redeem(p: { code: string; codeVerifier: string; nonce: string }): Promise<IdTokenClaims>;
}

interface KeySet {
  keys: Array<{ kid: string | undefined; key: KeyObject }>;
  fetchedAt: number;
}

export function createOidcClient(config: OidcConfig, now: () => number): OidcClient {
  const issuer = config.issuer;
  let discovery: { at: number; doc: Promise<Discovery> } | undefined;
  let keySet: Promise<KeySet> | undefined;

  function discover(): Promise<Discovery> {
    if (discovery && now() - discovery.at < DISCOVERY_TTL_MS) return discovery.doc;
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = getJson(url, discoverySchema).then((d) => {
      // OpenID Connect Discovery §4.3: the document must name the issuer we asked, or it speaks for
      // someone else.
      if (stripSlash(d.issuer) !== stripSlash(issuer))
        throw new OidcError(`discovery names issuer ${d.issuer}, expected ${issuer}`);
      return d;
    });
    discovery = { at: now(), doc };
    // A failure is not cached: the next sign-in tries again.
    doc.catch(() => {
      if (discovery?.doc === doc) discovery = undefined;
    });
    return doc;
  }

  function loadKeys(): Promise<KeySet> {
    const loading = discover().then(async (d) => {
      const { keys } = await getJson(d.jwks_uri, jwksSchema);
      const usable: KeySet['keys'] = [];
      for (const jwk of keys) {
        if (jwk.kty !== 'RSA' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
        if (jwk.alg !== undefined && jwk.alg !== 'RS256') continue;
        try {
          usable.push({
            kid: jwk.kid,
            key: createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' }),
          });
        } catch {
          // One malformed key must not take the others down with it.
        }
      }
      return { keys: usable, fetchedAt: now() };
    });
    keySet = loading;
    loading.catch(() => {
      if (keySet === loading) keySet = undefined;
    });
    return loading;
  }

  function pick(set: KeySet, kid: string | undefined): KeyObject | undefined {
    if (kid === undefined) return set.keys.length === 1 ? set.keys[0]?.key : undefined;
    return set.keys.find((k) => k.kid === kid)?.key;
  }

  async function keyFor(kid: string | undefined): Promise<KeyObject | undefined> {
    let set = await (keySet ?? loadKeys());
    if (now() - set.fetchedAt > JWKS_TTL_MS) set = await loadKeys();
    const key = pick(set, kid);
    if (key || now() - set.fetchedAt < JWKS_REFRESH_MIN_MS) return key;
    return pick(await loadKeys(), kid);
  }

  return {
    async authorizationUrl({ state, nonce, codeChallenge }) {
      const d = await discover();
      const url = new URL(d.authorization_endpoint);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', config.client_id);
      url.searchParams.set('redirect_uri', config.redirect_uri);
      url.searchParams.set(
        'scope',
        config.scopes.includes('openid') ? config.scopes.join(' ') : ['openid', ...config.scopes].join(' '),
      );
      url.searchParams.set('state', state);
      url.searchParams.set('nonce', nonce);
      url.searchParams.set('code_challenge', codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
      return url.toString();
    },

    async redeem({ code, codeVerifier, nonce }) {
      const d = await discover();
      const form = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: config.redirect_uri,
        code_verifier: codeVerifier,
      });
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      };
      const secret = config.client_secret;
      const methods = d.token_endpoint_auth_methods_supported;
      if (secret === undefined) {
        form.set('client_id', config.client_id);
      } else if (
        methods &&
        !methods.includes('client_secret_basic') &&
        methods.includes('client_secret_post')
      ) {
        form.set('client_id', config.client_id);
        form.set('client_secret', secret);
      } else {
        // RFC 6749 §2.3.1: both parts form-encoded before base64.
        const basic = `${formEncode(config.client_id)}:${formEncode(secret)}`;
        headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
      }
      const tokens = await postForm(d.token_endpoint, form, headers);
      return verifyIdToken(tokens.id_token, {
        keyFor,
        issuer: d.issuer,
        clientId: config.client_id,
        nonce,
        now,
      });
    },
  };
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

async function getJson<T>(url: string, schema: z.ZodType<T>): Promise<T> {
  const res = await request(url, { headers: { accept: 'application/json' } });
  return readJson(res, url, schema);
}

async function postForm(
  url: string,
  form: URLSearchParams,
  headers: Record<string, string>,
): Promise<z.infer<typeof tokenResponseSchema>> {
  const res = await request(url, { method: 'POST', headers, body: form.toString() });
  return readJson(res, url, tokenResponseSchema);
}

async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    // Provider redirects are not followed: every endpoint comes from the discovery document as is.
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (error) {
    throw new OidcError(`${url}: request failed`, { cause: error });
  }
}

async function readJson<T>(res: Response, url: string, schema: z.ZodType<T>): Promise<T> {
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new OidcError(`${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new OidcError(`${url}: response is not JSON`, { cause: error });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new OidcError(`${url}: unexpected response shape`, { cause: parsed.error });
  return parsed.data;
}
