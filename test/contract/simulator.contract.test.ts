import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentConfig, deploymentSchema, type SimulatorFaults } from '../../src/config/schema.ts';
import type { ChatRequest, StreamEvent } from '../../src/core/chat.ts';
import { collect } from '../../src/core/collect.ts';
import type { ProviderAdapter } from '../../src/core/provider.ts';
import { UpstreamError, type UpstreamErrorKind } from '../../src/core/upstream-error.ts';
import { createAnthropicAdapter } from '../../src/providers/anthropic/adapter.ts';
import { createOpenAIAdapter } from '../../src/providers/openai/adapter.ts';
import {
  type SimulatorHandle,
  simulatedDeploymentBaseUrl,
  startSimulator,
} from '../../src/providers/simulator/index.ts';
import { baseRequest, toolRequest } from './adapter-contract.ts';

/**
 * Both real adapters against one simulator: the simulator speaks each wire well enough that the same
 * conversation reads the same through either, and each injected fault is classified the same way.
 */

type Dialect = 'openai' | 'anthropic';
const DIALECTS: Dialect[] = ['openai', 'anthropic'];

let sim: SimulatorHandle;
const adapters = new Map<string, ProviderAdapter>();

function deployment(
  sim: SimulatorHandle,
  dialect: Dialect,
  continuation: 'prefill' | 'instruction' = 'prefill',
): DeploymentConfig {
  return deploymentSchema.parse({
    id: `sim-${dialect}-${continuation}`,
    provider: 'simulator',
    base_url: simulatedDeploymentBaseUrl(sim, dialect),
    model: 'sim-model',
    continuation,
    // Short, so blackholes and stalls surface as timeouts within a test.
    timeouts: { connect_ms: 1_000, first_byte_ms: 300, idle_ms: 300, total_ms: 5_000 },
  });
}

function makeAdapter(
  sim: SimulatorHandle,
  dialect: Dialect,
  continuation: 'prefill' | 'instruction' = 'prefill',
): ProviderAdapter {
  const dep = deployment(sim, dialect, continuation);
  return dialect === 'openai' ? createOpenAIAdapter(dep) : createAnthropicAdapter(dep);
}

function adapter(dialect: Dialect, continuation: 'prefill' | 'instruction' = 'prefill'): ProviderAdapter {
  const key = `${dialect}/${continuation}`;
  let a = adapters.get(key);
  if (!a) {
    a = makeAdapter(sim, dialect, continuation);
    adapters.set(key, a);
  }
  return a;
}

async function run(a: ProviderAdapter, req: ChatRequest): Promise<{ events: StreamEvent[]; error: unknown }> {
  const events: StreamEvent[] = [];
  try {
    for await (const ev of a.call(req, { signal: new AbortController().signal, requestId: 'contract' }))
      events.push(ev);
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

async function answer(a: ProviderAdapter, req: ChatRequest) {
  return collect(a.call(req, { signal: new AbortController().signal, requestId: 'contract' }));
}

function textOf(content: Awaited<ReturnType<typeof answer>>['content']): string {
  return content.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

function resetFaults(): void {
  const clear: Partial<Record<keyof SimulatorFaults, undefined>> = {};
  for (const key of Object.keys(sim.faults()) as Array<keyof SimulatorFaults>) clear[key] = undefined;
  sim.setFaults(clear);
}

beforeAll(async () => {
  sim = await startSimulator({
    options: { ttft_ms: 0, tokens_per_sec: 0, faults: { retry_after_s: 2 } },
    name: 'contract',
  });
});

afterEach(() => {
  resetFaults();
  sim.setFaults({ retry_after_s: 2 });
});

afterAll(async () => {
  for (const a of adapters.values()) await a.close();
  await sim.close();
});

describe('simulator through both adapters', () => {
  it('gives the same conversation the same text through both wires, unary and streamed', async () => {
    const results = [];
    for (const dialect of DIALECTS) {
      for (const stream of [false, true]) {
        const { events, error } = await run(adapter(dialect), baseRequest(stream));
        expect(error).toBeUndefined();
        expect(events[0]).toMatchObject({ type: 'start', model: 'simulated/sim-model' });
        results.push(
          await collect(
            (async function* () {
              yield* events;
            })(),
          ),
        );
      }
    }
    const [first, ...rest] = results;
    expect(first?.finishReason).toBe('end_turn');
    expect(textOf(first!.content)).toMatch(/^[A-Z].+\.$/);
    expect(first?.usage).toEqual({
      inputTokens: Math.ceil('Be brief.Say hello.'.length / 4),
      outputTokens: 24,
    });
    for (const r of rest) {
      expect(r.content).toEqual(first?.content);
      expect(r.finishReason).toBe('end_turn');
      expect(r.usage).toEqual(first?.usage);
    }
  });

  it('makes the same tool call through both wires', async () => {
    const calls = [];
    for (const dialect of DIALECTS) {
      for (const stream of [false, true]) {
        const res = await answer(adapter(dialect), toolRequest(stream));
        expect(res.finishReason).toBe('tool_use');
        const call = res.content.find((p) => p.type === 'tool_call');
        expect(call).toMatchObject({ type: 'tool_call', name: 'get_weather' });
        calls.push(
          call?.type === 'tool_call'
            ? { id: call.id, args: JSON.parse(call.arguments) as unknown }
            : undefined,
        );
      }
    }
    expect(calls[0]).toEqual({ id: expect.stringMatching(/^call_/), args: { city: 'Paris' } });
    for (const c of calls) expect(c).toEqual(calls[0]);
  });

  it('reports max_tokens and stop sequences the same through both wires', async () => {
    const full = textOf((await answer(adapter('openai'), baseRequest(false))).content);
    const stop = full.slice(15, 19);
    for (const dialect of DIALECTS) {
      for (const stream of [false, true]) {
        const short = await answer(adapter(dialect), { ...baseRequest(stream), maxTokens: 5 });
        expect(short.finishReason).toBe('max_tokens');
        expect(short.usage.outputTokens).toBe(5);
        expect(full.startsWith(textOf(short.content))).toBe(true);
        const stopped = await answer(adapter(dialect), { ...baseRequest(stream), stop: [stop] });
        expect(textOf(stopped.content)).toBe(full.slice(0, full.indexOf(stop)));
        // The OpenAI wire says which stop sequence matched through vLLM's `stop_reason` extension.
        expect(stopped.finishReason).toBe('stop_sequence');
        expect(stopped.stopSequence).toBe(stop);
      }
    }
  });

  it('continues a partial answer exactly via prefill (both wires) and the explicit instruction', async () => {
    const full = textOf((await answer(adapter('openai'), baseRequest(false))).content);
    const space = full.indexOf(' ');
    const cuts = [1, space, space + 1, space + 3, Math.floor(full.length / 2), full.length - 2];
    const routes: Array<[Dialect, 'prefill' | 'instruction']> = [
      ['openai', 'prefill'],
      ['openai', 'instruction'],
      ['anthropic', 'prefill'],
    ];
    for (const [dialect, continuation] of routes) {
      for (const cut of cuts) {
        const partial = full.slice(0, cut);
        const base = baseRequest(cut % 2 === 0);
        const req: ChatRequest = {
          ...base,
          continueFinalMessage: true,
          messages: [...base.messages, { role: 'assistant', content: [{ type: 'text', text: partial }] }],
        };
        const rest = await answer(adapter(dialect, continuation), req);
        expect(partial + textOf(rest.content), `${dialect}/${continuation} cut ${cut}`).toBe(full);
      }
    }
  });
});

describe('simulator faults classify the same through both adapters', () => {
  const cases: Array<{
    name: string;
    faults: Partial<SimulatorFaults>;
    kind: UpstreamErrorKind;
    status?: number;
    retryAfterMs?: number;
    /** Only streamed requests (the fault needs a stream), and whether output had begun. */
    streamOnly?: { midStream: boolean };
  }> = [
    {
      name: 'rate_limit_rate',
      faults: { rate_limit_rate: 1 },
      kind: 'rate_limited',
      status: 429,
      retryAfterMs: 2000,
    },
    { name: 'overloaded_rate', faults: { overloaded_rate: 1 }, kind: 'overloaded', status: 529 },
    {
      name: 'error_rate (500)',
      faults: { error_rate: 1, error_statuses: [500] },
      kind: 'server',
      status: 500,
    },
    {
      name: 'error_rate (502)',
      faults: { error_rate: 1, error_statuses: [502] },
      kind: 'server',
      status: 502,
    },
    { name: 'refuse', faults: { refuse: true }, kind: 'connection' },
    { name: 'blackhole', faults: { blackhole: true }, kind: 'timeout' },
    { name: 'malformed_after_tokens', faults: { malformed_after_tokens: 2 }, kind: 'protocol' },
    {
      name: 'cut_after_tokens',
      faults: { cut_after_tokens: 3 },
      kind: 'connection',
      streamOnly: { midStream: true },
    },
    {
      name: 'stall_after_tokens',
      faults: { stall_after_tokens: 3 },
      kind: 'timeout',
      streamOnly: { midStream: true },
    },
  ];

  for (const c of cases) {
    for (const stream of c.streamOnly ? [true] : [false, true]) {
      it(`${c.name} → ${c.kind} (${stream ? 'stream' : 'unary'})`, async () => {
        // Warm the pools first so refusal also has to deal with pooled keep-alive connections.
        for (const dialect of DIALECTS) await answer(adapter(dialect), baseRequest(false));
        sim.setFaults(c.faults);
        for (const dialect of DIALECTS) {
          const { events, error } = await run(adapter(dialect), baseRequest(stream));
          expect(error, dialect).toBeInstanceOf(UpstreamError);
          const ue = error as UpstreamError;
          expect(ue.kind, `${dialect}: ${ue.message}`).toBe(c.kind);
          expect(ue.retryable).toBe(true);
          if (c.status !== undefined) expect(ue.status, dialect).toBe(c.status);
          if (c.retryAfterMs !== undefined) expect(ue.retryAfterMs, dialect).toBe(c.retryAfterMs);
          if (c.streamOnly) {
            expect(ue.midStream, dialect).toBe(c.streamOnly.midStream);
            expect(events.filter((e) => e.type === 'text')).toHaveLength(3);
          }
        }
      });
    }
  }

  it('cut_after_tokens on a unary answer fails before any output (connection, not mid-stream)', async () => {
    sim.setFaults({ cut_after_tokens: 3 });
    for (const dialect of DIALECTS) {
      const { events, error } = await run(adapter(dialect), baseRequest(false));
      expect(events).toEqual([]);
      expect((error as UpstreamError).kind).toBe('connection');
      expect((error as UpstreamError).midStream).toBe(false);
    }
  });

  it('recovers once the fault is cleared', async () => {
    sim.setFaults({ refuse: true });
    sim.setFaults({ refuse: false });
    for (const dialect of DIALECTS)
      expect((await answer(adapter(dialect), baseRequest(true))).finishReason).toBe('end_turn');
  });

  it('capacity: rejected as rate_limited on the OpenAI path and overloaded on the Anthropic path', async () => {
    const busy = await startSimulator({
      options: { ttft_ms: 0, tokens_per_sec: 20, answer_tokens: 8, capacity: 1, queue: 0 },
    });
    const oa = makeAdapter(busy, 'openai');
    const an = makeAdapter(busy, 'anthropic');
    try {
      const first = answer(oa, baseRequest(true));
      while (busy.stats().active < 1) await new Promise((r) => setTimeout(r, 5));
      const a = (await run(oa, baseRequest(false))).error as UpstreamError;
      const b = (await run(an, baseRequest(true))).error as UpstreamError;
      expect([a.kind, a.status, a.retryAfterMs]).toEqual(['rate_limited', 429, 1000]);
      expect([b.kind, b.status]).toEqual(['overloaded', 529]);
      expect((await first).finishReason).toBe('end_turn');
    } finally {
      await oa.close();
      await an.close();
      await busy.close();
    }
  });
});
