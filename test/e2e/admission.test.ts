import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMISSION_CHANNEL, type AdmissionEvent } from '../../src/telemetry/admission.ts';
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
      classes: { interactive: { target_wait_ms: 5_000 }, batch: { target_wait_ms: 10, max_wait_ms: 100 } },
    },
    store: { data_dir: 'memory://' },
  });
});
afterAll(() => t?.close());

function stream(i: number, priority = 'interactive'): Promise<string> {
  return fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      'content-type': 'application/json',
      'x-holdfast-priority': priority,
    },
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
    const bodies = await Promise.all([0, 1, 2, 3].map((i) => stream(i)));
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

  it('publishes queue, admission and drop events on a diagnostics channel', async () => {
    const events: AdmissionEvent[] = [];
    const onEvent = (m: unknown): void => {
      events.push(m as AdmissionEvent);
    };
    subscribe(ADMISSION_CHANNEL, onEvent);
    try {
      // Two interactive requests (one waits), then a batch one that outwaits its 100 ms budget.
      const bodies = await Promise.all([stream(10), stream(11), stream(12, 'batch')]);
      expect(bodies[0]).toContain('[DONE]');
      expect(bodies[2]).toContain('queue_timeout');
    } finally {
      unsubscribe(ADMISSION_CHANNEL, onEvent);
    }
    const admitted = events.filter((e) => e.type === 'admitted');
    expect(admitted).toHaveLength(2);
    for (const e of admitted)
      expect(e).toMatchObject({ model: 'narrow', priority: 'interactive', capacity: 1 });
    expect(admitted.some((e) => e.type === 'admitted' && e.waitedMs > 0)).toBe(true);
    const queued = events.filter((e) => e.type === 'queued');
    expect(queued.length).toBeGreaterThanOrEqual(2);
    expect(queued.every((e) => e.type === 'queued' && e.position >= 1 && e.queued >= 1)).toBe(true);
    const dropped = events.filter((e) => e.type === 'dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ priority: 'batch', reason: 'queue_timeout' });
    if (dropped[0]?.type === 'dropped') expect(dropped[0].waitedMs).toBeGreaterThanOrEqual(100);
  });
});
