import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import { HoldfastError } from '../../src/core/errors.ts';
import { metricsPlugin } from '../../src/telemetry/metrics/route.ts';
import type { GatewayMetrics } from '../../src/telemetry/metrics.ts';
import { publishOutcome } from '../../src/telemetry/outcome.ts';
import { samples, total } from './exposition.ts';
import { fakeDb } from './fake-db.ts';
import { ADMIN_KEY, simDeployment, startMetricsGateway } from './gateway.ts';

/**
 * Who may read /metrics: the admin key (Bearer or x-api-key) on a real gateway; anyone when
 * `telemetry.metrics.public` is set or in open mode; nobody when metrics are off (no route at all).
 */

let gw: Gateway;
let virtualKey: string;

beforeAll(async () => {
  gw = await startMetricsGateway({
    models: [{ name: 'acc-chat', deployments: [simDeployment('acc-a', 'openai')] }],
  });
  virtualKey = (await gw.keys.createKey({ name: 'caller', models: ['*'] })).secret;
});
afterAll(() => gw?.close(1_000));

const get = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/metrics`, { headers });

describe('/metrics on a gateway with an admin key', () => {
  it('answers 401 with no key or an unknown key, in the OpenAI error shape', async () => {
    for (const headers of [{}, { authorization: 'Bearer hf-not-a-real-key' }] as Record<string, string>[]) {
      const res = await get(gw.url, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code).toBe('invalid_api_key');
    }
  });

  it("answers 403 to a caller's virtual key", async () => {
    const res = await get(gw.url, { authorization: `Bearer ${virtualKey}` });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('admin_required');
  });

  it('serves the Prometheus text format to the admin key, as a Bearer token or x-api-key', async () => {
    for (const headers of [{ authorization: `Bearer ${ADMIN_KEY}` }, { 'x-api-key': ADMIN_KEY }] as Record<
      string,
      string
    >[]) {
      const res = await get(gw.url, headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      expect(text).toContain('# TYPE holdfast_requests_total counter');
      expect(text).toContain(
        'holdfast_deployment_health{model="acc-chat",deployment="acc-a",state="healthy"} 1',
      );
    }
  });
});

/** The plugin alone on a bare Fastify server, with the config and open mode given. */
async function bare(
  metrics: { enabled?: boolean; public?: boolean },
  openMode: boolean,
  onMetrics?: (m: GatewayMetrics) => void,
): Promise<FastifyInstance> {
  const config = buildConfig(
    {
      store: { data_dir: 'memory://' },
      models: [{ name: 'm', deployments: [{ id: 'd', provider: 'simulator', model: 'm' }] }],
      telemetry: { metrics },
    },
    {},
  );
  const app = Fastify();
  const plugin = metricsPlugin({
    config: () => config,
    engine: () => ({
      health: () => 'healthy',
      isDrained: () => false,
      deployments: new Map(),
      outlier: { snapshot: () => [] },
    }),
    queues: () => [],
    db: { kysely: fakeDb(async () => ({ rows: [] })), engine: 'postgres' },
    openMode,
    authenticate: async () => {
      throw new HoldfastError('invalid_api_key');
    },
    ...(onMetrics ? { onMetrics } : {}),
  });
  app.register(async (child) => plugin(child));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

const urlOf = (app: FastifyInstance): string =>
  `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

describe('/metrics access settings', () => {
  it('is open to anyone with telemetry.metrics.public, and in open mode', async () => {
    for (const [settings, openMode] of [
      [{ public: true }, false],
      [{}, true],
    ] as const) {
      const app = await bare(settings, openMode);
      try {
        const res = await get(urlOf(app));
        expect(res.status).toBe(200);
        expect(await res.text()).toContain('holdfast_store_up');
      } finally {
        await app.close();
      }
    }
  });

  it('needs a key otherwise, even where no admin key exists', async () => {
    const app = await bare({}, false);
    try {
      expect((await get(urlOf(app))).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('stops listening to the diagnostics channels when the server closes', async () => {
    let metrics: GatewayMetrics | undefined;
    const app = await bare({ public: true }, false, (m) => {
      metrics = m;
    });
    const record = {
      requestId: 'req_close',
      startedAt: Date.now(),
      dialect: 'openai',
      model: 'm',
      deployment: 'd',
      stream: false,
      status: 200,
      ok: true,
      outcome: 'success',
      flag: 'OK',
      failovers: 0,
      attempts: 1,
      latencyMs: 5,
      inputTokens: 1,
      outputTokens: 1,
    } as const;
    publishOutcome(record);
    await app.close();
    publishOutcome(record);
    expect(total(samples(await metrics!.render()), 'holdfast_requests_total', { model: 'm' })).toBe(1);
  });

  it('is not served at all with telemetry.metrics.enabled off', async () => {
    const app = await bare({ enabled: false, public: true }, true);
    try {
      expect((await get(urlOf(app))).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
