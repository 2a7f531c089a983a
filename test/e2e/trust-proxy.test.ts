import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const open: TestGateway[] = [];
afterAll(() => Promise.all(open.map((g) => g.close())));

async function gateway(trust: boolean): Promise<TestGateway> {
  const g = await startTestGateway({
    server: { trust_proxy: trust },
    store: { data_dir: 'memory://' },
    limits: { ip: { rpm: 2 } },
  });
  open.push(g);
  return g;
}

function call(g: TestGateway, forwardedFor: string): Promise<number> {
  return fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      'content-type': 'application/json',
      'x-forwarded-for': forwardedFor,
    },
    body: JSON.stringify({ model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });
}

describe('server.trust_proxy', () => {
  it('off (default): a forged X-Forwarded-For does not choose the client address', async () => {
    const g = await gateway(false);
    expect([
      await call(g, '203.0.113.1'),
      await call(g, '203.0.113.2'),
      await call(g, '203.0.113.3'),
    ]).toEqual([200, 200, 429]);
  });

  it('on: per-IP limits apply to the address the proxy reports', async () => {
    const g = await gateway(true);
    expect([
      await call(g, '203.0.113.1'),
      await call(g, '203.0.113.1'),
      await call(g, '203.0.113.1'),
    ]).toEqual([200, 200, 429]);
    expect(await call(g, '203.0.113.2')).toBe(200);
  });
});
