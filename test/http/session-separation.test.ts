import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../helpers/chat-client.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { startHardened, statusAdminSession } from './harness.ts';

/**
 * Four credentials, four doors, no crossing: a chat session cookie is not an API key, an API key (even
 * the admin key) is not a chat session or an operator session, and a chat account with the admin role is
 * not an operator. The only intended overlap: the admin key is also a caller key on /v1 and the operator
 * APIs' bearer credential.
 */
let t: TestGateway;
let chat: ChatClient; // the first account: the chat app's admin role
let virtualKey = '';
let operatorCookie = '';

beforeAll(async () => {
  t = await startHardened({ chat: { enabled: true }, status: { enabled: true, probes: { enabled: false } } });
  chat = await ChatClient.signUp(t.url, 'First');
  expect(chat.user?.role).toBe('admin');
  virtualKey = (await t.gw.keys.createKey({ name: 'api', models: ['*'] })).secret;
  operatorCookie = await statusAdminSession(t.url, ADMIN_KEY);
}, 60_000);
afterAll(() => t?.close());

async function status(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<number> {
  const r = await fetch(`${t.url}${path}`, {
    method,
    redirect: 'manual',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await r.arrayBuffer();
  // The operator pages answer "not signed in" with a redirect to their sign-in form.
  if (r.status === 303)
    return (r.headers.get('location') ?? '').startsWith('/status/admin/signin') ? 401 : 303;
  return r.status;
}

const completion = { model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] };
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

describe('sessions and API keys stay apart', () => {
  it('a chat session cookie (with its CSRF token) cannot call the model API', async () => {
    const asSession = { cookie: chat.cookie, 'x-csrf-token': chat.csrf };
    expect(await status('POST', '/v1/chat/completions', asSession, completion)).toBe(401);
    expect(await status('POST', '/v1/messages', asSession, { ...completion, max_tokens: 10 })).toBe(401);
    expect(await status('GET', '/v1/models', asSession)).toBe(401);
    // Nor does its secret work when presented as a key.
    const secret = chat.cookie.split('=')[1]!;
    expect(await status('GET', '/v1/models', bearer(secret))).toBe(401);
    expect(await status('GET', '/v1/models', { 'x-api-key': secret })).toBe(401);
    // The session itself works where it belongs.
    expect(await status('GET', '/api/conversations', { cookie: chat.cookie })).toBe(200);
  });

  it('an API key, even the admin key, is not a chat session', async () => {
    for (const key of [virtualKey, ADMIN_KEY]) {
      expect(await status('GET', '/api/conversations', bearer(key))).toBe(401);
      expect(await status('GET', '/api/conversations', { 'x-api-key': key })).toBe(401);
      expect(await status('GET', '/api/conversations', { cookie: `hf_session=${key}` })).toBe(401);
      expect(await status('GET', '/api/auth/me', bearer(key))).toBe(401);
    }
    // Both are good keys where keys belong.
    expect(await status('GET', '/v1/models', bearer(virtualKey))).toBe(200);
    expect(await status('POST', '/v1/chat/completions', bearer(ADMIN_KEY), completion)).toBe(200);
  });

  it('a virtual key is not an operator; the admin key is one by bearer only, never as a session', async () => {
    expect(await status('GET', '/admin/status/components', bearer(virtualKey))).toBe(403);
    expect(await status('GET', '/admin/chaos', bearer(virtualKey))).toBe(403);
    expect(await status('GET', '/status/admin', bearer(virtualKey))).toBe(401);
    expect(await status('GET', '/status/admin', { cookie: `hf_status_admin=${virtualKey}` })).toBe(401);
    // The operator pages take no bearer key at all (browsers sign in once for a session).
    expect(await status('GET', '/status/admin', bearer(ADMIN_KEY))).toBe(401);
    expect(await status('GET', '/status/admin', { cookie: `hf_status_admin=${ADMIN_KEY}` })).toBe(401);
    // Intended: the operator APIs take the admin key as a bearer credential.
    expect(await status('GET', '/admin/status/components', bearer(ADMIN_KEY))).toBe(200);
    expect(await status('GET', '/admin/chaos', bearer(ADMIN_KEY))).toBe(200);
  });

  it("a chat account with the admin role is not an operator, and an operator's session is nothing else", async () => {
    const asChatAdmin = { cookie: chat.cookie, 'x-csrf-token': chat.csrf };
    expect(await status('GET', '/status/admin', asChatAdmin)).toBe(401);
    expect(await status('GET', '/admin/status/components', asChatAdmin)).toBe(401);
    expect(await status('GET', '/admin/chaos', asChatAdmin)).toBe(401);

    expect(await status('GET', '/status/admin', { cookie: operatorCookie })).toBe(200);
    expect(await status('GET', '/admin/status/components', { cookie: operatorCookie })).toBe(401);
    expect(await status('GET', '/admin/chaos', { cookie: operatorCookie })).toBe(401);
    expect(await status('GET', '/v1/models', { cookie: operatorCookie })).toBe(401);
    expect(await status('GET', '/api/conversations', { cookie: operatorCookie })).toBe(401);
    const opSecret = operatorCookie.split('=')[1]!;
    expect(await status('GET', '/v1/models', bearer(opSecret))).toBe(401);
    expect(await status('GET', '/api/conversations', { cookie: `hf_session=${opSecret}` })).toBe(401);
  });
});
