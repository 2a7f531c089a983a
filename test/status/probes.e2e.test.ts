import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../helpers/chat-client.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { call, FAST_STATUS, startStatusGateway, until } from './gateway.ts';

let t: TestGateway;

beforeAll(async () => {
  t = await startStatusGateway({
    status: { ...FAST_STATUS, probes: { enabled: true, interval_s: 0.3, failures: 2 } },
  });
});
afterAll(() => t?.close());

describe('probes', () => {
  it('an idle component whose deployment fails is not healthy by default: probes find it', async () => {
    const id = t.gw.status!.componentId('model:sim-anthropic')!;
    const status = async () =>
      (await call(t.url, 'GET', '/api/v2/components.json')).body.components.find((c: Json) => c.id === id)
        .status;
    // Probes alone (no caller traffic) keep it operational while it answers...
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await status()).toBe('operational');
    // ...and find the failure when it stops answering.
    await call(t.url, 'POST', '/admin/chaos/sim-an', { kind: 'refuse', duration_s: 30 });
    const started = Date.now();
    await until(
      'probes to find the outage',
      async () => ((await status()) === 'major_outage' ? true : undefined),
      10_000,
    );
    console.log(
      `status: idle sim-anthropic major_outage ${Date.now() - started} ms after the fault (probes every 300 ms)`,
    );
    // The healthy idle component stays operational.
    const other = t.gw.status!.componentId('model:sim-openai')!;
    const comps = (await call(t.url, 'GET', '/api/v2/components.json')).body.components;
    expect(comps.find((c: Json) => c.id === other).status).toBe('operational');
    await call(t.url, 'DELETE', '/admin/chaos');
  });
});
