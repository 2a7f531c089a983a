import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({
    models: [
      {
        name: 'narrow',
        deployments: [
          {
            id: 'n1',
            provider: 'simulator',
            model: 'm',
            simulator: { ttft_ms: 50, tokens_per_sec: 100, answer_tokens: 15 },
          },
        ],
      },
    ],
    // A patient interactive class, so this test sees queueing rather than CoDel shedding.
    admission: {
      initial_limit: 1,
      min_limit: 1,
      max_limit: 1,
      classes: { interactive: { target_wait_ms: 5_000 } },
    },
    store: { data_dir: 'memory://' },
  });
});
afterAll(() => t?.close());

function stream(i: number): Promise<string> {
  return fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'narrow',
      stream: true,
      messages: [{ role: 'user', content: `waiting ${i}` }],
    }),
  }).then((r) => r.text());
}

describe('admission queue and waiting room', () => {
  it('queues past capacity, tells streaming callers their place, then answers them all', async () => {
    let peak = 0;
    const poll = setInterval(async () => {
      const q = (await (await fetch(`${t.url}/holdfast/queue`)).json()) as {
        models: Array<{ model: string; queued: number; capacity: number; inflight: number }>;
      };
      const m = q.models.find((x) => x.model === 'narrow')!;
      expect(m.capacity).toBe(1);
      expect(m.inflight).toBeLessThanOrEqual(1);
      peak = Math.max(peak, m.queued);
    }, 20);
    const bodies = await Promise.all([0, 1, 2, 3].map(stream));
    clearInterval(poll);
    expect(peak).toBeGreaterThan(0);
    const told = bodies.filter((b) => /^: queue position=\d+ eta_ms=\d+$/m.test(b));
    expect(told.length).toBeGreaterThanOrEqual(2);
    for (const b of bodies) {
      expect(b).toContain('"content":"');
      expect(b.trim().endsWith('data: [DONE]')).toBe(true);
    }
  });

  it('reports queue length and expected wait per model', async () => {
    const res = await fetch(`${t.url}/holdfast/queue`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { models: Array<Record<string, unknown>> };
    expect(body.models[0]).toMatchObject({ model: 'narrow', queued: 0, capacity: 1, inflight: 0 });
    expect(body.models[0]).toHaveProperty('estimatedWaitMs');
    expect(body.models[0]).toHaveProperty('byClass');
  });
});
