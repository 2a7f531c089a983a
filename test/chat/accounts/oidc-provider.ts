import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny OpenID Connect provider for tests: discovery, JWKS, authorize (signs in `identity` at once,
 * no login page) and token (authorization code + PKCE S256, client_secret_basic). `tamper` bends the
 * next ID tokens so tests can check that the client refuses them.
 */
export interface TestIdentity {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface Tamper {
  audience?: string | string[];
  issuer?: string;
  nonce?: string;
  /** Seconds added to exp (negative: already expired). */
  expOffsetS?: number;
  /** Sign with this key instead (the JWKS still advertises the real one under the same kid). */
  signWith?: KeyObject;
  alg?: string;
}

export interface TokenRequest {
  authorization: string | undefined;
  form: Record<string, string>;
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  identity: TestIdentity;
  tamper: Tamper;
  tokenRequests: TokenRequest[];
  /** Starts signing with a new key under a new kid, published alongside the old one. */
  rotateKey(): void;
  close(): Promise<void>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  nonce: string;
  challenge: string;
  identity: TestIdentity;
}

export async function startTestProvider(): Promise<TestProvider> {
  // Newest last; tokens are signed with the newest, the JWKS lists them all.
  const keys = [{ kid: 'test-key-1', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) }];
  const current = () => keys.at(-1)!;
  const codes = new Map<string, IssuedCode>();
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider: TestProvider = {
    issuer,
    clientId: 'holdfast-test',
    clientSecret: 's3cret with spaces & symbols',
    identity: { sub: 'user-1', email: 'sso@example.com', email_verified: true, name: 'Sso User' },
    tamper: {},
    tokenRequests: [],
    rotateKey() {
      keys.push({
        kid: `test-key-${keys.length + 1}`,
        ...generateKeyPairSync('rsa', { modulusLength: 2048 }),
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      return send(res, 200, {
        keys: keys.map((k) => ({
          ...k.publicKey.export({ format: 'jwk' }),
          kid: k.kid,
          use: 'sig',
          alg: 'RS256',
        })),
      });
    }
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      const redirectUri = q.get('redirect_uri') ?? '';
      if (
        q.get('response_type') !== 'code' ||
        q.get('client_id') !== provider.clientId ||
        q.get('code_challenge_method') !== 'S256' ||
        !q.get('code_challenge') ||
        !q.get('nonce') ||
        !q.get('scope')?.split(' ').includes('openid')
      ) {
        return send(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('base64url');
      codes.set(code, {
        clientId: provider.clientId,
        redirectUri,
        nonce: q.get('nonce') ?? '',
        challenge: q.get('code_challenge') ?? '',
        identity: { ...provider.identity },
      });
      const back = new URL(redirectUri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.toString() }).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      provider.tokenRequests.push({ authorization: req.headers.authorization, form });
      const client = basicCredentials(req.headers.authorization);
      if (client?.id !== provider.clientId || client.secret !== provider.clientSecret)
        return send(res, 401, { error: 'invalid_client' });
      const issued = codes.get(form.code ?? '');
      codes.delete(form.code ?? '');
      if (!issued || form.grant_type !== 'authorization_code' || form.redirect_uri !== issued.redirectUri)
        return send(res, 400, { error: 'invalid_grant' });
      const challenge = createHash('sha256')
        .update(form.code_verifier ?? '')
        .digest('base64url');
      if (challenge !== issued.challenge)
        return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
      return send(res, 200, {
        access_token: randomBytes(16).toString('base64url'),
        token_type: 'Bearer',
        expires_in: 3600,
        id_token: idToken(issued),
      });
    }
    send(res, 404, { error: 'not_found' });
  }

  function idToken(issued: IssuedCode): string {
    const t = provider.tamper;
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: t.alg ?? 'RS256', typ: 'JWT', kid: current().kid };
    const claims = {
      iss: t.issuer ?? issuer,
      aud: t.audience ?? issued.clientId,
      iat: now,
      exp: now + 300 + (t.expOffsetS ?? 0),
      nonce: t.nonce ?? issued.nonce,
      ...issued.identity,
    };
    const input = `${b64(header)}.${b64(claims)}`;
    const signature = sign('RSA-SHA256', Buffer.from(input), t.signWith ?? current().privateKey).toString(
      'base64url',
    );
    return `${input}.${signature}`;
  }

  return provider;
}

/** RFC 6749 §2.3.1: base64 of form-encoded id ":" form-encoded secret. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
