import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { startSimulator } from '../../src/providers/simulator/index.ts';
import { ATTEMPT_CHANNEL, type AttemptRecord } from '../../src/telemetry/outcome.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Three simulated deployments behind one model; one of them is broken in each fault mode in turn.
 * Callers (the official SDKs, their own retries off) must see zero failures, and every streamed answer
 * must be exactly the simulator's deterministic answer: continuation neither lost nor duplicated text.
 */

const SIM = { ttft_ms: 2, tokens_per_sec: 400, answer_tokens: 30 };
const timeouts = { first_byte_ms: 3_000, idle_ms: 600 };

function trio(): ConfigInput['models'] {
  return [
    {
      name: 'chat',
      deployments: [
        {
          id: 'd1',
          provider: 'simulator',
          model: 'm',
          region: 'r1',
          timeouts,
          simulator: { ...SIM, dialect: 'openai' },
        },
        {
          id: 'd2',
          provider: 'simulator',
          model: 'm',
          region: 'r2',
          timeouts,
          simulator: { ...SIM, dialect: 'anthropic' },
        },
        {
          id: 'd3',
          provider: 'simulator',
          model: 'm',
          region: 'r3',
          timeouts,
          simulator: { ...SIM, dialect: 'openai' },
        },
      ],
    },
  ];
}

const resilience = { outlier: { consecutive_failures: 3 }, first_byte: { floor_ms: 300 } };

let reference: Awaited<ReturnType<typeof startSimulator>>;
const expected = new Map<string, string>();

/** The simulator's own answer for a conversation, straight from a fault-free simulator. */
async function answerFor(question: string): Promise<string> {
  const hit = expected.get(question);
  if (hit !== undefined) return hit;
  const res = await fetch(`${reference.openaiBaseUrl}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: question }] }),
  });
  const json = (await res.json()) as { choices: Array<{ message: { content: string } }> };
  const text = json.choices[0]!.message.content;
  expected.set(question, text);
  return text;
}

beforeAll(async () => {
  reference = await startSimulator({ options: SIM });
});
afterAll(() => reference?.close());

async function setFault(
  t: TestGateway,
  id: string,
  faults: Record<string, unknown>,
  forMs = 120_000,
): Promise<void> {
  const dep = t.gw.deployments.find((d) => d.config.id === id)!;
  const res = await fetch(`${dep.controlUrl}?for_ms=${forMs}`, {
    method: 'POST',
    body: JSON.stringify(faults),
  });
  expect(res.status).toBe(200);
}

interface Traffic {
  failures: unknown[];
  mismatches: string[];
  served: number;
}

/** `n` requests, alternating OpenAI/Anthropic SDKs and stream/unary, `concurrency` at a time. */
async function traffic(t: TestGateway, n: number, tag: string, concurrency = 6): Promise<Traffic> {
  const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0, timeout: 20_000 });
  const anthropic = new Anthropic({ apiKey: ADMIN_KEY, baseURL: t.url, maxRetries: 0, timeout: 20_000 });
  const out: Traffic = { failures: [], mismatches: [], served: 0 };
  let next = 0;
  async function one(i: number): Promise<void> {
    const q = `Scenario ${tag}, question ${i}: how are the harbour lights?`;
    const want = await answerFor(q);
    let got = '';
    try {
      if (i % 4 === 0) {
        const s = await openai.chat.completions.create({
          model: 'chat',
          stream: true,
          messages: [{ role: 'user', content: q }],
        });
        for await (const c of s) got += c.choices[0]?.delta.content ?? '';
      } else if (i % 4 === 1) {
        const r = await openai.chat.completions.create({
          model: 'chat',
          messages: [{ role: 'user', content: q }],
        });
        got = r.choices[0]!.message.content ?? '';
      } else if (i % 4 === 2) {
        const m = await anthropic.messages
          .stream({ model: 'chat', max_tokens: 500, messages: [{ role: 'user', content: q }] })
          .finalMessage();
        got = m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      } else {
        const m = await anthropic.messages.create({
          model: 'chat',
          max_tokens: 500,
          messages: [{ role: 'user', content: q }],
        });
        got = m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      }
      out.served += 1;
      if (got !== want) out.mismatches.push(`#${i}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
    } catch (err) {
      out.failures.push(err);
    }
  }
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await one(next++);
    }),
  );
  return out;
}

function recordAttempts(): { attempts: AttemptRecord[]; stop(): void } {
  const attempts: AttemptRecord[] = [];
  const on = (m: unknown): void => {
    attempts.push(m as AttemptRecord);
  };
  subscribe(ATTEMPT_CHANNEL, on);
  return { attempts, stop: () => unsubscribe(ATTEMPT_CHANNEL, on) };
}

const MODES: Array<[string, Record<string, unknown>]> = [
  ['refuse', { refuse: true }],
  ['blackhole', { blackhole: true }],
  ['500s', { error_rate: 1, error_statuses: [500] }],
  ['429 storm with retry-after', { rate_limit_rate: 1, retry_after_s: 30 }],
  ['529 overloaded', { overloaded_rate: 1 }],
  ['cut after N tokens', { cut_after_tokens: 7 }],
  ['stall', { stall_after_tokens: 5 }],
  ['malformed chunk', { malformed_after_tokens: 4 }],
];

describe('one of three deployments broken', () => {
  it.each(MODES)('%s: zero failed requests, every answer exact', async (mode, faults) => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    const rec = recordAttempts();
    try {
      await setFault(t, 'd1', faults);
      const r = await traffic(t, 40, mode);
      expect(r.failures).toEqual([]);
      expect(r.mismatches).toEqual([]);
      expect(r.served).toBe(40);
      // The fault was really met (otherwise the test proves nothing).
      expect(rec.attempts.some((a) => a.deployment === 'd1' && !a.ok)).toBe(true);
    } finally {
      rec.stop();
      await t.close();
    }
  });
});

describe('ejection', () => {
  it('a black-holed deployment stops receiving new traffic within 2 s at 50 requests/s', async () => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    const rec = recordAttempts();
    try {
      await traffic(t, 24, 'warm-up'); // gives the group a TTFT baseline
      await setFault(t, 'd1', { blackhole: true });
      const t0 = performance.now();
      const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
      const calls: Array<Promise<unknown>> = [];
      for (let i = 0; i < 200; i++) {
        calls.push(
          openai.chat.completions
            .create({ model: 'chat', messages: [{ role: 'user', content: `bh ${i}` }] })
            .catch((e: unknown) => e),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
      const results = await Promise.all(calls);
      expect(results.filter((r) => r instanceof Error)).toEqual([]);
      const toD1 = rec.attempts.filter((a) => a.deployment === 'd1' && a.startedAt >= t0);
      expect(toD1.length).toBeGreaterThan(0);
      // The run lasts 4 s; nothing was sent to d1 after its first 2 s of silence.
      const lastStart = Math.max(...toD1.map((a) => a.startedAt));
      expect(lastStart - t0).toBeLessThan(2_000);
      expect(performance.now() - t0).toBeGreaterThan(3_900);
    } finally {
      rec.stop();
      await t.close();
    }
  }, 60_000);
});

describe('fallback groups', () => {
  function groups(): ConfigInput['models'] {
    return [
      {
        name: 'chat',
        fallbacks: ['backup'],
        deployments: [
          {
            id: 'p1',
            provider: 'simulator',
            model: 'm',
            timeouts,
            simulator: { ...SIM, dialect: 'anthropic' },
          },
          {
            id: 'p2',
            provider: 'simulator',
            model: 'm',
            timeouts,
            simulator: { ...SIM, dialect: 'anthropic' },
          },
        ],
      },
      {
        name: 'backup',
        deployments: [
          { id: 'b1', provider: 'simulator', model: 'm', timeouts, simulator: { ...SIM, dialect: 'openai' } },
        ],
      },
    ];
  }

  it('a whole group down is served by its fallback group', async () => {
    const t = await startTestGateway({ models: groups(), resilience, store: { data_dir: 'memory://' } });
    try {
      await setFault(t, 'p1', { refuse: true });
      await setFault(t, 'p2', { error_rate: 1, error_statuses: [503] });
      const r = await traffic(t, 24, 'fallback');
      expect(r.failures).toEqual([]);
      expect(r.mismatches).toEqual([]);
      // Admission counts the fallback's room as the group's: a dead group must not throttle to one request.
      const q = (await (await fetch(`${t.url}/holdfast/queue`)).json()) as {
        models: Array<{ model: string; capacity: number }>;
      };
      expect(q.models.find((m) => m.model === 'chat')!.capacity).toBeGreaterThanOrEqual(
        q.models.find((m) => m.model === 'backup')!.capacity,
      );
    } finally {
      await t.close();
    }
  });

  it('everything down: a fast error in the caller dialect, not a hang', async () => {
    const t = await startTestGateway({ models: groups(), resilience, store: { data_dir: 'memory://' } });
    try {
      for (const id of ['p1', 'p2', 'b1']) await setFault(t, id, { refuse: true });
      const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
      const anthropic = new Anthropic({ apiKey: ADMIN_KEY, baseURL: t.url, maxRetries: 0 });
      for (let i = 0; i < 8; i++) {
        const t0 = performance.now();
        const e1 = await openai.chat.completions
          .create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] })
          .catch((e: unknown) => e);
        expect(e1).toBeInstanceOf(OpenAI.APIError);
        expect((e1 as InstanceType<typeof OpenAI.APIError>).status).toBeGreaterThanOrEqual(502);
        const e2 = await anthropic.messages
          .create({ model: 'chat', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
          .catch((e: unknown) => e);
        expect(e2).toBeInstanceOf(Anthropic.APIError);
        expect((e2 as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error' });
        expect(performance.now() - t0).toBeLessThan(3_000);
      }
      // Once everything is ejected the answer is the registry's no_healthy_upstream.
      const last = await openai.chat.completions
        .create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect((last as InstanceType<typeof OpenAI.APIError>).code).toBe('no_healthy_upstream');
    } finally {
      await t.close();
    }
  });
});

describe('chaos API on a running gateway', () => {
  it('injects a timed fault through /admin/chaos; traffic fails over and the fault ends by itself', async () => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    const rec = recordAttempts();
    try {
      const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
      const denied = await fetch(`${t.url}/admin/chaos/d2`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(denied.status).toBe(401);
      const res = await fetch(`${t.url}/admin/chaos/d2`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ kind: 'error', status: 503, duration_s: 2 }),
      });
      expect(res.status).toBe(201);
      const listed = (await (await fetch(`${t.url}/admin/chaos`, { headers: admin })).json()) as {
        faults: unknown[];
      };
      expect(listed.faults).toHaveLength(1);
      const r = await traffic(t, 24, 'chaos');
      expect(r.failures).toEqual([]);
      expect(r.mismatches).toEqual([]);
      expect(rec.attempts.some((a) => a.deployment === 'd2' && !a.ok && a.errorKind === 'server')).toBe(true);
      await new Promise((r) => setTimeout(r, 2_100));
      const after = (await (await fetch(`${t.url}/admin/chaos`, { headers: admin })).json()) as {
        faults: unknown[];
      };
      expect(after.faults).toEqual([]);
    } finally {
      rec.stop();
      await t.close();
    }
  });
});

describe('hedging, tools, mid-stream policy and deadlines', () => {
  it('hedges a slow first byte to another deployment and keeps the faster answer', async () => {
    const models = trio().map((m) => ({ ...m, hedge: { budget_ratio: 1, min_delay_ms: 40 } }));
    const t = await startTestGateway({ models, resilience, store: { data_dir: 'memory://' } });
    try {
      // Enough unary answers (half the mix) for the group's unary latency p95 that times the hedge.
      await traffic(t, 60, 'hedge-warm-up');
      await setFault(t, 'd1', { slow_ms: 250 });
      const seen: string[] = [];
      for (let i = 0; i < 24; i++) {
        const q = `hedge question ${i}`;
        const res = await fetch(`${t.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: q }] }),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
        expect(body.choices[0]!.message.content).toBe(await answerFor(q));
        seen.push(res.headers.get('x-holdfast-failover') ?? '');
      }
      expect(seen).toContain('hedged');
    } finally {
      await t.close();
    }
  });

  it('restarts a tool call cut mid-arguments cleanly instead of splicing it', async () => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    const rec = recordAttempts();
    try {
      await setFault(t, 'd1', { cut_after_tokens: 2 });
      const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
      const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' }, days: { type: 'integer' } },
              required: ['city', 'days'],
            },
          },
        },
      ];
      for (let i = 0; i < 12; i++) {
        const stream = await openai.chat.completions.create({
          model: 'chat',
          stream: true,
          tools,
          tool_choice: 'required',
          messages: [{ role: 'user', content: `Weather please, take ${i}` }],
        });
        const calls = new Map<number, { name: string; args: string }>();
        for await (const chunk of stream) {
          for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
            const c = calls.get(d.index) ?? { name: '', args: '' };
            c.name += d.function?.name ?? '';
            c.args += d.function?.arguments ?? '';
            calls.set(d.index, c);
          }
        }
        expect([...calls.values()].map((c) => c.name)).toEqual(['get_weather']);
        const args = JSON.parse(calls.get(0)!.args) as { city: unknown; days: unknown };
        expect(typeof args.city).toBe('string');
        expect(typeof args.days).toBe('number');
      }
      expect(rec.attempts.some((a) => a.deployment === 'd1' && !a.ok)).toBe(true);
    } finally {
      rec.stop();
      await t.close();
    }
  });

  it('with mid_stream: fail, a broken stream ends in an error event, never a clean-looking truncated answer', async () => {
    const models = trio().map((m) => ({ ...m, mid_stream: 'fail' as const }));
    const t = await startTestGateway({ models, resilience, store: { data_dir: 'memory://' } });
    try {
      for (const id of ['d1', 'd2', 'd3']) await setFault(t, id, { cut_after_tokens: 5 });
      const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
      const anthropic = new Anthropic({ apiKey: ADMIN_KEY, baseURL: t.url, maxRetries: 0 });
      const q = 'Tell me about the harbour in detail.';
      const full = await answerFor(q);
      let got = '';
      const err = await (async () => {
        const s = await openai.chat.completions.create({
          model: 'chat',
          stream: true,
          messages: [{ role: 'user', content: q }],
        });
        for await (const c of s) got += c.choices[0]?.delta.content ?? '';
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(got.length).toBeGreaterThan(0);
      expect(full.startsWith(got)).toBe(true);
      expect(got).not.toBe(full);
      const err2 = await anthropic.messages
        .stream({ model: 'chat', max_tokens: 300, messages: [{ role: 'user', content: q }] })
        .finalMessage()
        .catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(Error);
    } finally {
      await t.close();
    }
  });

  it('the x-holdfast-deadline-ms header bounds the whole request', async () => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    try {
      for (const id of ['d1', 'd2', 'd3']) await setFault(t, id, { blackhole: true });
      const t0 = performance.now();
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/json',
          'x-holdfast-deadline-ms': '400',
        },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'anyone?' }] }),
      });
      const ms = performance.now() - t0;
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(ms).toBeLessThan(2_000);
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(
        /upstream_timeout|no_healthy_upstream/,
      );
    } finally {
      await t.close();
    }
  });
});

describe('a stream that fails before its first byte', () => {
  it('gets a real HTTP error status and body in its dialect, not an empty 200', async () => {
    const t = await startTestGateway({ models: trio(), resilience, store: { data_dir: 'memory://' } });
    try {
      for (const id of ['d1', 'd2', 'd3']) await setFault(t, id, { refuse: true });
      const oa = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(oa.status).toBeGreaterThanOrEqual(500);
      expect(((await oa.json()) as { error: { code: string } }).error.code).toMatch(
        /no_healthy_upstream|upstream_error/,
      );
      const an = await fetch(`${t.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': ADMIN_KEY,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify({
          model: 'chat',
          stream: true,
          max_tokens: 20,
          messages: [{ role: 'user', content: 'x' }],
        }),
      });
      expect(an.status).toBeGreaterThanOrEqual(500);
      expect(await an.json()).toMatchObject({ type: 'error', error: { type: expect.any(String) } });
    } finally {
      await t.close();
    }
  });
});
