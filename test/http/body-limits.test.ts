import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../helpers/chat-client.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { rawConnect, startHardened } from './harness.ts';

/**
 * Every face bounds request bodies: the model API by `server.body_limit_bytes`, the chat app, the status
 * page's forms and API and the operator pages by their own limits. A body declared too large is refused
 * from its Content-Length alone, before a byte of it is read; a chunked one as soon as it passes the limit.
 */
const LIMIT = 32 * 1024;
let t: TestGateway;
let chat: ChatClient;

beforeAll(async () => {
  t = await startHardened({
    server: { body_limit_bytes: LIMIT },
    chat: { enabled: true },
    status: { enabled: true, probes: { enabled: false } },
  });
  chat = await ChatClient.signUp(t.url, 'Bo');
}, 60_000);
afterAll(() => t?.close());

/** Sends only the head of a request declaring `length` bytes, and returns the status line of the answer. */
async function declared(path: string, type: string, length: number, headers: Record<string, string> = {}) {
  const c = await rawConnect(t.url);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  c.socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n${extra}\r\n`,
  );
  await new Promise<void>((resolve) => {
    const check = () => (c.received.includes('\r\n\r\n') ? resolve() : setTimeout(check, 10));
    check();
    void c.closed.then(() => resolve());
  });
  c.socket.destroy();
  return c.received.split('\r\n')[0] ?? '';
}

const GIB = 1024 ** 3;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

describe('body limits', () => {
  it('refuses a declared 1 GiB body on every face, unread', async () => {
    const session = { cookie: chat.cookie, 'x-csrf-token': chat.csrf };
    const cases: Array<[string, string, Record<string, string>]> = [
      ['/v1/chat/completions', 'application/json', auth],
      ['/v1/messages', 'application/json', auth],
      ['/admin/status/incidents', 'application/json', auth],
      ['/admin/chaos/sim-oa', 'application/json', auth],
      ['/api/conversations', 'application/json', session],
      ['/api/auth/signup', 'application/json', {}],
      ['/api/characters/import', 'image/png', session],
      ['/api/v2/subscribers', 'application/json', {}],
      ['/api/v2/subscribers', 'application/x-www-form-urlencoded', {}],
      ['/api/v2/reports', 'application/json', {}],
      ['/status/unsubscribe', 'application/x-www-form-urlencoded', {}],
      ['/status/admin/signin', 'application/x-www-form-urlencoded', {}],
    ];
    for (const [path, type, headers] of cases) {
      expect(await declared(path, type, GIB, headers), `${path} (${type})`).toMatch(/^HTTP\/1\.1 413/);
    }
  });

  it('the model API enforces server.body_limit_bytes, declared or chunked, in the caller dialect', async () => {
    const big = JSON.stringify({
      model: 'sim-openai',
      messages: [{ role: 'user', content: 'x'.repeat(LIMIT) }],
    });
    expect(await declared('/v1/chat/completions', 'application/json', LIMIT + 1, auth)).toMatch(/ 413/);
    // Chunked: no length up front, refused once the limit is passed.
    const chunked = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          const bytes = new TextEncoder().encode(big);
          for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    const anthropic = await fetch(`${t.url}/v1/messages`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: big,
    });
    expect(anthropic.status).toBe(413);
    expect(((await anthropic.json()) as { type: string }).type).toBe('error');
    // Just under the limit is fine.
    const ok = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'sim-openai',
        messages: [{ role: 'user', content: 'x'.repeat(LIMIT - 200) }],
      }),
    });
    expect(ok.status).toBe(200);
  });
});
