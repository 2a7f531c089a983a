import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../helpers/chat-client.ts';
import { simModels, type TestGateway } from '../helpers/gateway.ts';
import { startHardened, statusAdminSession } from './harness.ts';

/**
 * Secrets never reach the logs. A gateway at log level `trace` holds one of every kind of secret in its
 * config (admin key, upstream API key and auth header, SMTP password, OIDC client secret, S3 keys) and is
 * driven with secrets in requests (bearer and x-api-key keys, good and bad, session cookies, passwords in
 * sign-in forms); an upstream echoes the key it was sent into its error, the S3 export and the SMTP
 * delivery fail against closed ports. Every line written is captured through a pino destination stream:
 * none may contain a secret. Then the whole config, and a request's headers, are logged on purpose.
 *
 * None of the secrets below look like a key (no `hf-`/`sk-` prefix), so they are caught by value, not by
 * shape.
 */
const S = {
  admin: 'AdminKey-Zebra-0123456789',
  upstream: 'UpstreamKey-Heron-0042-xyz',
  proxyHeader: 'ProxyHeaderSecret-Ibis-777',
  smtp: 'SmtpPassword-Walrus-4242',
  oidc: 'OidcClientSecret-Egret-99',
  s3Access: 'S3AccessKeyId-Puffin-11',
  s3Secret: 'S3SecretKey-Otter-abcdef',
  wrongCaller: 'WrongCallerKey-Badger-31337',
  chatPassword: 'ChatPassword-Koala-8080',
  wrongAdmin: 'WrongAdminGuess-Lemur-555',
};

let t: TestGateway;
let upstream: Server;
const lines: string[] = [];
let virtualKey = '';

/** A closed loopback port: something that refuses connections. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  // An OpenAI-style upstream that, like real ones, quotes the key it got in its 401.
  upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${req.headers.authorization}`,
          type: 'invalid_request_error',
        },
      }),
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  const [smtpPort, s3Port, oidcPort] = [await closedPort(), await closedPort(), await closedPort()];

  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startHardened(
    {
      auth: { admin_key: S.admin },
      models: [
        ...simModels(),
        {
          name: 'keyed',
          deployments: [
            {
              id: 'keyed-1',
              provider: 'openai',
              base_url: upstreamUrl,
              api_key: S.upstream,
              headers: { 'x-proxy-auth': S.proxyHeader },
              model: 'gpt-x',
            },
          ],
        },
      ],
      chat: {
        enabled: true,
        oidc: {
          issuer: `http://127.0.0.1:${oidcPort}`,
          client_id: 'holdfast-test',
          client_secret: S.oidc,
          redirect_uri: 'http://127.0.0.1/api/auth/oidc/callback',
        },
      },
      status: {
        enabled: true,
        probes: { enabled: false },
        notifications: {
          smtp: {
            host: '127.0.0.1',
            port: smtpPort,
            user: 'status',
            pass: S.smtp,
            from: 'Status <s@example.test>',
          },
        },
        export: {
          s3: {
            bucket: 'status',
            endpoint: `http://127.0.0.1:${s3Port}`,
            access_key_id: S.s3Access,
            secret_access_key: S.s3Secret,
            force_path_style: true,
          },
        },
      },
    },
    { logLevel: 'trace', logDestination: sink },
  );
  virtualKey = (await t.gw.keys.createKey({ name: 'logged', models: ['*'] })).secret;
}, 60_000);
afterAll(async () => {
  await t?.close();
  upstream?.close();
});

async function post(path: string, headers: Record<string, string>, body: unknown): Promise<number> {
  const r = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
}

const hello = { model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] };

describe('secrets in logs', () => {
  it('none of the configured or presented secrets appear in any log line', { timeout: 60_000 }, async () => {
    // Model API calls with every way of presenting a key, good and bad.
    expect(await post('/v1/chat/completions', { authorization: `Bearer ${virtualKey}` }, hello)).toBe(200);
    expect(await post('/v1/chat/completions', { authorization: `Bearer ${S.admin}` }, hello)).toBe(200);
    expect(await post('/v1/chat/completions', { 'x-api-key': S.wrongCaller }, hello)).toBe(401);
    expect(await post('/v1/chat/completions', { authorization: `Bearer ${S.wrongCaller}` }, hello)).toBe(401);
    // The upstream refuses its key and quotes it back.
    const keyed = await post(
      '/v1/chat/completions',
      { authorization: `Bearer ${S.admin}` },
      { ...hello, model: 'keyed' },
    );
    expect(keyed).toBeGreaterThanOrEqual(400);

    // The chat app: a password in sign-up and a wrong one in sign-in, then the session cookie on calls.
    const chat = new ChatClient(t.url);
    expect(
      (
        await chat.call('POST', '/api/auth/signup', {
          email: 'k@example.test',
          password: S.chatPassword,
          name: 'K',
        })
      ).status,
    ).toBe(201);
    await chat.call('GET', '/api/conversations');
    const anon = new ChatClient(t.url);
    await anon.call('POST', '/api/auth/signin', { email: 'k@example.test', password: `${S.chatPassword}!` });
    await anon.call('GET', '/api/auth/oidc/start');

    // Operator pages: a wrong key and the right one in the sign-in form; the admin API by bearer.
    const form = await fetch(`${t.url}/status/admin/signin`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const signinCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    await fetch(`${t.url}/status/admin/signin`, {
      method: 'POST',
      headers: { cookie: signinCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, key: S.wrongAdmin }).toString(),
    }).then((r) => r.arrayBuffer());
    const adminCookie = await statusAdminSession(t.url, S.admin);
    await fetch(`${t.url}/status/admin`, { headers: { cookie: adminCookie } }).then((r) => r.arrayBuffer());
    await fetch(`${t.url}/admin/status/components`, { headers: { authorization: `Bearer ${S.admin}` } }).then(
      (r) => r.arrayBuffer(),
    );

    // An email subscription: its confirmation goes to an SMTP server that is not there.
    expect(
      await post('/api/v2/subscribers', {}, { kind: 'email', target: 'reader@example.test' }).then((s) => s),
    ).toBe(201);

    // The failures that log errors: the S3 export (at start) and the SMTP delivery.
    await expect
      .poll(() => lines.some((l) => l.includes('status export failed')), { timeout: 30_000 })
      .toBe(true);
    await expect
      .poll(() => lines.some((l) => /status notification/.test(l) && /ECONNREFUSED|connect/i.test(l)), {
        timeout: 30_000,
      })
      .toBe(true);

    // Careless logging, on purpose: the whole config, and a request's headers and cookies.
    t.gw.logger.info({ config: t.gw.config }, 'config dump');
    t.gw.logger.warn(
      {
        req: {
          headers: {
            authorization: `Bearer ${virtualKey}`,
            'x-api-key': S.wrongCaller,
            cookie: chat.cookie,
            'x-csrf-token': chat.csrf,
          },
        },
      },
      `request from ${chat.cookie} with ${virtualKey}`,
    );

    const all = lines.join('\n');
    // The capture is real: request lines, the failures above and the dumps are all there.
    expect(lines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(5);
    expect(all).toContain('config dump');
    expect(all).toContain('[redacted]');
    const session = chat.cookie.split('=')[1]!;
    const forbidden = {
      ...S,
      virtualKey,
      session,
      csrf: chat.csrf,
      adminSession: adminCookie.split('=')[1]!,
      oidcBasic: Buffer.from(`holdfast-test:${S.oidc}`).toString('base64'),
    };
    const leaks = Object.entries(forbidden).filter(([, v]) => all.includes(v));
    expect(leaks.map(([k]) => k)).toEqual([]);
    console.log(JSON.stringify({ logLines: lines.length, secretsChecked: Object.keys(forbidden).length }));
  });
});
