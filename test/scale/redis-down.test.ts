import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SharedStateStatus } from '../../src/stores/redis/shared-state.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type OwnRedis, startRedisServer } from '../helpers/redis.ts';

/**
 * Two gateways sharing a redis-server this test owns (never the machine's shared one), which the test
 * pauses (SIGSTOP: connections stay open, nothing answers) while traffic keeps coming: every request is
 * still answered, quickly, the per-IP limit still roughly holds (each replica enforces its half, starting
 * from how full the shared bucket was), and both go back to the shared state when Redis returns.
 */

const RPM = 60;
let redis: OwnRedis;
let gws: TestGateway[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  const input = {
    limits: { ip: { rpm: RPM } },
    chat: { enabled: false },
    shared_state: {
      redis_url: redis.url,
      key_prefix: 'down:',
      heartbeat_ms: 200,
      reconnect_base_ms: 50,
      reconnect_cap_ms: 500,
    },
  };
  gws = [await startTestGateway(input), await startTestGateway(input)];
}, 30_000);

afterAll(async () => {
  redis.resume();
  await Promise.all(gws.map((g) => g.close()));
  await redis.close();
});

async function chat(url: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-openai', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.arrayBuffer();
  return { status: r.status, ms: performance.now() - t0 };
}

async function state(g: TestGateway): Promise<SharedStateStatus> {
  const r = await fetch(`${g.url}/admin/shared-state`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  return (await r.json()) as SharedStateStatus;
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Redis paused under traffic', () => {
  it('keeps answering at each replica’s share of the limit, then shares again', async () => {
    await until(async () => (await Promise.all(gws.map(state))).every((s) => s.liveReplicas === 2));
    const send = async (n: number, gapMs = 0) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        out.push(await chat(gws[i % 2]!.url));
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      return out;
    };

    // Shared: 20 of the minute's 60 spent, across both replicas.
    expect((await send(20)).map((r) => r.status)).toEqual(Array(20).fill(200));

    redis.pause();
    const t0 = Date.now();
    // A steady trickle for a few seconds, so refills during the outage count too.
    const during = await send(120, 25);
    const pausedFor = Date.now() - t0;
    for (const g of gws) expect((await state(g)).mode).toBe('local-fallback');
    // Every request answered, none failed for want of Redis.
    expect(during.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const allowed = during.filter((r) => r.status === 200).length;
    // 40 left in the shared bucket when Redis went, plus what refills while paused (one a second).
    const expected = RPM - 20 + pausedFor / 1_000;
    console.log(
      `Redis paused ${pausedFor} ms: ${allowed} of 120 admitted (≈${expected.toFixed(0)} expected), slowest answer ${Math.max(...during.map((r) => r.ms)).toFixed(0)} ms`,
    );
    expect(allowed).toBeGreaterThanOrEqual(expected * 0.8);
    expect(allowed).toBeLessThanOrEqual(expected * 1.2);

    redis.resume();
    await until(async () =>
      (await Promise.all(gws.map(state))).every((s) => s.mode === 'shared' && s.transitions >= 2),
    );
    // What the replicas admitted on their own was replayed into Redis: the minute stays spent.
    const after = await send(10);
    expect(after.filter((r) => r.status === 200).length).toBeLessThanOrEqual(3);
  }, 30_000);
});
