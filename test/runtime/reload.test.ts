import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { Config, ConfigInput } from '../../src/config/schema.ts';
import { diffConfig, effectiveConfig } from '../../src/runtime/reload.ts';

const ADMIN = 'hf-admin-reload-test-0123456789';

function sim(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    provider: 'simulator' as const,
    model: `${id}-m`,
    region: id,
    ...extra,
    simulator: { ttft_ms: 5, tokens_per_sec: 400, answer_tokens: 12 },
  };
}

function config(dir: string, models: ConfigInput['models'], more: Partial<ConfigInput> = {}): Config {
  return buildConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      auth: { admin_key: ADMIN },
      store: { data_dir: dir },
      log: { level: 'silent' },
      chat: { enabled: false },
      status: { enabled: false },
      models,
      ...more,
    },
    {},
  );
}

let gw: Gateway | undefined;
let dir = '';
afterEach(async () => {
  await gw?.close(1_000);
  gw = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(models: ConfigInput['models'], more: Partial<ConfigInput> = {}) {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-reload-'));
  gw = await startGateway(config(dir, models, more), { env: {} });
  return { gw, client: new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: ADMIN, maxRetries: 0 }) };
}

describe('config diff', () => {
  it('applies the routing sections and reports the rest as needing a restart', () => {
    const a = config('/tmp/a', [{ name: 'm', deployments: [sim('d1')] }]);
    const b = config('/tmp/b', [{ name: 'm', deployments: [sim('d1', { weight: 3 })] }], {
      limits: { default_output_tokens: 99 },
    });
    expect(diffConfig(a, b)).toEqual({ applied: ['limits', 'models'], needsRestart: ['store'] });
    expect(diffConfig(a, a)).toEqual({ applied: [], needsRestart: [] });
    const eff = effectiveConfig(a, b);
    expect(eff.store.data_dir).toBe('/tmp/a');
    expect(eff.models[0]!.deployments[0]!.weight).toBe(3);
    expect(eff.limits.default_output_tokens).toBe(99);
  });
});

describe('hot reload of a running gateway', () => {
  it('serves through four reloads under load without one failed request', async () => {
    const { gw, client } = await start([{ name: 'chat', deployments: [sim('east'), sim('west')] }]);
    const models = (extra: ConfigInput['models'] = []): ConfigInput['models'] => [
      { name: 'chat', deployments: [sim('east'), sim('west')] },
      ...extra,
    ];
    const steps: ConfigInput['models'][] = [
      models([{ name: 'extra', deployments: [sim('north')] }]),
      [
        { name: 'chat', deployments: [sim('east'), sim('west', { weight: 4 })] },
        { name: 'extra', deployments: [sim('north')] },
      ],
      [{ name: 'chat', deployments: [sim('east')] }],
      models(),
    ];
    let stop = false;
    let ok = 0;
    const failures: unknown[] = [];
    const worker = async (stream: boolean): Promise<void> => {
      while (!stop) {
        try {
          if (stream) {
            const s = await client.chat.completions.create({
              model: 'chat',
              stream: true,
              messages: [{ role: 'user', content: 'hi' }],
            });
            let text = '';
            let finish: string | null = null;
            for await (const c of s) {
              text += c.choices[0]?.delta.content ?? '';
              finish = c.choices[0]?.finish_reason ?? finish;
            }
            if (text.length === 0 || finish !== 'stop') failures.push(new Error(`stream ended ${finish}`));
            else ok++;
          } else {
            const r = await client.chat.completions.create({
              model: 'chat',
              messages: [{ role: 'user', content: 'hi' }],
            });
            if (!r.choices[0]?.message.content) failures.push(new Error('empty answer'));
            else ok++;
          }
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const load = [worker(true), worker(true), worker(false), worker(false)];
    const generations: number[] = [];
    for (const step of steps) {
      await new Promise((r) => setTimeout(r, 300));
      const r = await gw.reload(config(dir, step));
      generations.push(r.generation);
      expect(r.needsRestart).toEqual([]);
    }
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(load);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect(generations).toEqual([2, 3, 4, 5]);
    expect(gw.generation).toBe(5);
    expect(gw.deployments.map((d) => d.config.id).sort()).toEqual(['east', 'west']);
  });

  it('finishes a running stream on the config it started with, then releases what the new one dropped', async () => {
    const slow = {
      id: 'slow',
      provider: 'simulator' as const,
      model: 'slow-m',
      simulator: { ttft_ms: 5, tokens_per_sec: 40, answer_tokens: 30 },
    };
    const { gw, client } = await start([
      { name: 'chat', deployments: [sim('east')] },
      { name: 'legacy', deployments: [slow] },
    ]);
    const legacy = gw.deployments.find((d) => d.config.id === 'slow')!;
    const stream = await client.chat.completions.create({
      model: 'legacy',
      stream: true,
      messages: [{ role: 'user', content: 'tell me' }],
    });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);

    const r = await gw.reload(config(dir, [{ name: 'chat', deployments: [sim('east')] }]));
    expect(r.applied).toEqual(['models']);
    expect(r.carried).toEqual(['east']);
    // New requests no longer see the removed model...
    await expect(
      client.chat.completions.create({ model: 'legacy', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['chat']);
    // ...while the stream that started before the reload runs to its end on the old deployment.
    let finish: string | null = null;
    let chunks = 1;
    for (let n = await it.next(); !n.done; n = await it.next()) {
      chunks++;
      finish = n.value.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('stop');
    expect(chunks).toBeGreaterThan(20);
    // Once its last request ended, the dropped deployment's simulator is shut down.
    await expect
      .poll(
        async () => {
          try {
            await fetch(legacy.endpoint, { signal: AbortSignal.timeout(500) });
            return 'up';
          } catch {
            return 'closed';
          }
        },
        { timeout: 5_000 },
      )
      .toBe('closed');
  });

  it('keeps what it learnt about unchanged deployments: an ejection survives a reload', async () => {
    const { gw, client } = await start([{ name: 'chat', deployments: [sim('east'), sim('west')] }], {
      resilience: { outlier: { consecutive_failures: 2, base_ejection_ms: 60_000 } },
    });
    // The balancer avoids a failing deployment after one error, so traffic alone rarely gets it ejected
    // quickly; the detector is fed directly, as the engine does on each deployment fault.
    for (let i = 0; i < 3; i++) gw.engine.outlier.recordFailure('east');
    expect(gw.engine.health('east')).toBe('ejected');
    const east = gw.deployments.find((d) => d.config.id === 'east');

    const r = await gw.reload(
      config(
        dir,
        [
          { name: 'chat', deployments: [sim('east'), sim('west')] },
          { name: 'more', deployments: [sim('north')] },
        ],
        {
          resilience: { outlier: { consecutive_failures: 2, base_ejection_ms: 60_000 } },
        },
      ),
    );
    expect(r.carried.sort()).toEqual(['east', 'west']);
    expect(gw.engine.health('east')).toBe('ejected');
    expect(gw.deployments.find((d) => d.config.id === 'east')).toBe(east);
    // Traffic keeps going to the healthy one, as before the reload.
    const res = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    expect(res.response.headers.get('x-holdfast-deployment')).toBe('west');
  });

  it('reports sections that need a restart and keeps their running values', async () => {
    const { gw } = await start([{ name: 'chat', deployments: [sim('east')] }]);
    const next = config(dir, [{ name: 'chat', deployments: [sim('east')] }], {
      server: { host: '127.0.0.1', port: 0, body_limit_bytes: 1234 },
    });
    const r = await gw.reload(next);
    expect(r).toMatchObject({ applied: [], needsRestart: ['server'], generation: 1 });
    expect(gw.config.server.body_limit_bytes).not.toBe(1234);
  });
});
