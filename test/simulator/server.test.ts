import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatorFaults } from '../../src/config/schema.ts';
import { CONTINUE_INSTRUCTION } from '../../src/core/continuation.ts';
import {
  type SimulatorHandle,
  simulatedDeploymentBaseUrl,
  startSimulator,
} from '../../src/providers/simulator/index.ts';
import { get, post, stream, unaryText } from './http.ts';

const system = 'You are a harbour pilot.';
const question = 'How did the night go?';
const oaMessages = [
  { role: 'system', content: system },
  { role: 'user', content: question },
];
const oaBody = { model: 'pilot-1', messages: oaMessages };
const anBody = { model: 'pilot-1', max_tokens: 256, system, messages: [{ role: 'user', content: question }] };

let h: SimulatorHandle;
let oa: string;
let an: string;

function resetFaults(sim: SimulatorHandle): void {
  const clear: Partial<Record<keyof SimulatorFaults, undefined>> = {};
  for (const key of Object.keys(sim.faults()) as Array<keyof SimulatorFaults>) clear[key] = undefined;
  sim.setFaults(clear);
}

/** Resolves with the connect error code (or 'connected'). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  h = await startSimulator({ options: { ttft_ms: 0, tokens_per_sec: 0 }, name: 'sim-test' });
  oa = `${h.openaiBaseUrl}/chat/completions`;
  an = `${h.anthropicBaseUrl}/v1/messages`;
});

afterAll(async () => {
  await h.close();
});

afterEach(() => {
  resetFaults(h);
});

describe('simulator: both wires', () => {
  it('exposes loopback base URLs for each dialect', () => {
    expect(h.origin).toBe(`http://127.0.0.1:${h.port}`);
    expect(h.openaiBaseUrl).toBe(`${h.origin}/v1`);
    expect(h.anthropicBaseUrl).toBe(h.origin);
    expect(simulatedDeploymentBaseUrl(h, 'openai')).toBe(h.openaiBaseUrl);
    expect(simulatedDeploymentBaseUrl(h, 'anthropic')).toBe(h.anthropicBaseUrl);
  });

  it('gives the same answer for the same conversation: both wires, unary and streamed', async () => {
    const a = await post(oa, oaBody);
    const b = await post(an, anBody);
    const c = await stream(oa, { ...oaBody, stream_options: { include_usage: true } });
    const d = await stream(an, anBody);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const text = unaryText(a.json);
    expect(text).toMatch(/^[A-Z].+\.$/);
    expect(unaryText(b.json)).toBe(text);
    expect(c.text).toBe(text);
    expect(d.text).toBe(text);
    expect(c.deltas).toBe(24);
    expect(d.deltas).toBe(24);
    expect(a.json).toMatchObject({
      model: 'simulated/pilot-1',
      choices: [{ finish_reason: 'stop' }],
      usage: { completion_tokens: 24 },
    });
    expect(b.json).toMatchObject({
      model: 'simulated/pilot-1',
      stop_reason: 'end_turn',
      usage: { output_tokens: 24 },
    });
    expect([c.model, d.model]).toEqual(['simulated/pilot-1', 'simulated/pilot-1']);
    expect([c.finish, d.finish]).toEqual(['stop', 'end_turn']);
    const input = Math.ceil((system.length + question.length) / 4);
    expect(c.usage).toEqual({ input, output: 24 });
    expect(d.usage).toEqual({ input, output: 24 });
    expect(a.headers.get('x-holdfast-simulator')).toBe('sim-test');
  });

  it('answers a different conversation differently', async () => {
    const a = await post(oa, oaBody);
    const b = await post(oa, {
      ...oaBody,
      messages: [{ role: 'user', content: 'Something else entirely.' }],
    });
    expect(unaryText(b.json)).not.toBe(unaryText(a.json));
  });

  it('cuts at max_tokens and at stop sequences in each wire’s terms', async () => {
    const full = unaryText((await post(oa, oaBody)).json);
    const short = await post(oa, { ...oaBody, max_tokens: 5 });
    expect(short.json).toMatchObject({
      choices: [{ finish_reason: 'length' }],
      usage: { completion_tokens: 5 },
    });
    expect(full.startsWith(unaryText(short.json))).toBe(true);
    const anShort = await stream(an, { ...anBody, max_tokens: 5 });
    expect(anShort.finish).toBe('max_tokens');
    expect(anShort.text).toBe(unaryText(short.json));

    const stop = full.slice(20, 26);
    const oaStop = await post(oa, { ...oaBody, stop: stop });
    expect(oaStop.json).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
    expect(unaryText(oaStop.json)).toBe(full.slice(0, full.indexOf(stop)));
    const anStop = await post(an, { ...anBody, stop_sequences: [stop] });
    expect(anStop.json).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop });
    expect(unaryText(anStop.json)).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('lists models and answers unknown routes with a 404 in the right wire', async () => {
    const models = await get(`${h.openaiBaseUrl}/models`);
    expect(models.status).toBe(200);
    expect(models.json).toMatchObject({
      object: 'list',
      data: expect.arrayContaining([expect.objectContaining({ id: 'simulator' })]),
    });
    const nope = await post(`${h.openaiBaseUrl}/embeddings`, {});
    expect(nope.status).toBe(404);
    expect(nope.json).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('answers bad request bodies with the door’s 400 in that wire', async () => {
    const a = await post(oa, '{not json');
    expect(a.status).toBe(400);
    expect(a.json).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_json' } });
    const b = await post(an, '{not json');
    expect(b.status).toBe(400);
    expect(b.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const c = await post(oa, { model: 'm' });
    expect(c.status).toBe(400);
    expect(c.json).toMatchObject({ error: { param: 'messages' } });
    const d = await post(an, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(d.status).toBe(400);
    expect(d.text).toMatch(/max_tokens/);
  });
});

describe('simulator: continuation through every route', () => {
  let full: string;
  let cuts: number[];
  beforeAll(async () => {
    full = unaryText((await post(oa, oaBody)).json);
    const space = full.indexOf(' ');
    const midWord = full.indexOf(' ', space + 1) - 2;
    cuts = [1, space, space + 1, midWord, Math.floor(full.length / 2), full.length - 1];
  });

  it('prefill via /v1/messages', async () => {
    for (const cut of cuts) {
      const partial = full.slice(0, cut);
      const body = { ...anBody, messages: [...anBody.messages, { role: 'assistant', content: partial }] };
      expect(partial + unaryText((await post(an, body)).json), `cut ${cut}`).toBe(full);
      expect(partial + (await stream(an, body)).text, `cut ${cut} (stream)`).toBe(full);
    }
  });

  it('continue_final_message via /v1/chat/completions', async () => {
    for (const cut of cuts) {
      const partial = full.slice(0, cut);
      const body = {
        ...oaBody,
        continue_final_message: true,
        messages: [...oaMessages, { role: 'assistant', content: partial }],
      };
      expect(partial + unaryText((await post(oa, body)).json), `cut ${cut}`).toBe(full);
      expect(partial + (await stream(oa, body)).text, `cut ${cut} (stream)`).toBe(full);
    }
  });

  it('the explicit CONTINUE_INSTRUCTION, on both wires', async () => {
    for (const cut of cuts) {
      const partial = full.slice(0, cut);
      const tail = [
        { role: 'assistant', content: partial },
        { role: 'user', content: CONTINUE_INSTRUCTION },
      ];
      const viaOpenAI = await post(oa, { ...oaBody, messages: [...oaMessages, ...tail] });
      expect(partial + unaryText(viaOpenAI.json), `cut ${cut}`).toBe(full);
      const viaAnthropic = await stream(an, { ...anBody, messages: [...anBody.messages, ...tail] });
      expect(partial + viaAnthropic.text, `cut ${cut} (anthropic)`).toBe(full);
    }
  });
});

describe('simulator: tools', () => {
  const schema = {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
    required: ['city', 'unit'],
  };
  const ask = 'What is the weather in Oslo?';

  it('calls a mentioned tool with the same id and arguments on both wires', async () => {
    const a = await post(oa, {
      model: 'm',
      messages: [{ role: 'user', content: ask }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: schema } }],
    });
    const b = await post(an, {
      model: 'm',
      max_tokens: 100,
      messages: [{ role: 'user', content: ask }],
      tools: [{ name: 'get_weather', input_schema: schema }],
    });
    const oaCall = (
      a.json as {
        choices: Array<{
          finish_reason: string;
          message: { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> };
        }>;
      }
    ).choices[0]!;
    expect(oaCall.finish_reason).toBe('tool_calls');
    const call = oaCall.message.tool_calls[0]!;
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as { city: string; unit: string };
    expect(args.city).toBe('Oslo');
    expect(['c', 'f']).toContain(args.unit);
    expect(b.json).toMatchObject({
      stop_reason: 'tool_use',
      content: [{ type: 'tool_use', id: call.id, name: 'get_weather', input: args }],
    });
  });

  it('streams a tool call and then answers its result in words', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: schema } }];
    const s = await stream(oa, {
      model: 'm',
      messages: [{ role: 'user', content: ask }],
      tools,
      tool_choice: 'required',
    });
    expect(s.finish).toBe('tool_calls');
    expect(s.raw).toContain('"tool_calls"');
    const after = await post(oa, {
      model: 'm',
      tools,
      messages: [
        { role: 'user', content: ask },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_x',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_x', content: 'Snow, -3 C' },
      ],
    });
    expect(unaryText(after.json)).toMatch(/^The get_weather tool returned "Snow, -3 C"\./);
  });

  it('mentions images it was shown', async () => {
    const png =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const r = await post(an, {
      model: 'm',
      max_tokens: 50,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/b.png' } },
            { type: 'text', text: 'What do you see?' },
          ],
        },
      ],
    });
    expect(unaryText(r.json)).toMatch(/^I see 2 images\./);
  });
});

describe('simulator: faults over HTTP', () => {
  it('refuse: closes the port for real, and reopens the same port when cleared', async () => {
    await post(oa, oaBody);
    h.setFaults({ refuse: true });
    expect(await tryConnect(h.port)).toBe('ECONNREFUSED');
    const err = await rejection(post(oa, oaBody));
    expect(JSON.stringify((err as { cause?: { code?: string } }).cause?.code)).toMatch(
      /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/,
    );
    h.setFaults({ refuse: false });
    expect(await tryConnect(h.port)).toBe('connected');
    expect((await post(oa, oaBody)).status).toBe(200);
  });

  it('refuse over the control API needs for_ms, and lifts itself', async () => {
    const denied = await post(`${h.origin}/_sim/faults`, { refuse: true });
    expect(denied.status).toBe(400);
    const ok = await post(`${h.origin}/_sim/faults?for_ms=300`, { refuse: true });
    expect(ok.status).toBe(200);
    expect(await tryConnect(h.port)).toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 450));
    expect(h.faults().refuse).toBe(false);
    expect((await post(oa, oaBody)).status).toBe(200);
  });

  it('blackhole: reads the request and never answers', async () => {
    h.setFaults({ blackhole: true });
    const started = performance.now();
    const err = await rejection(post(oa, oaBody, { signal: AbortSignal.timeout(300) }));
    expect((err as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect(h.stats().active).toBe(0);
  });

  it('slow_ms: delays the first byte', async () => {
    h.setFaults({ slow_ms: 250 });
    const t = performance.now();
    expect((await post(oa, oaBody)).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(240);
    const s = await stream(an, anBody);
    expect(s.firstTokenMs).toBeGreaterThanOrEqual(240);
  });

  it('error_rate: answers the configured status with a body in the path’s wire format', async () => {
    h.setFaults({ error_rate: 1, error_statuses: [503] });
    const a = await post(oa, oaBody);
    expect(a.status).toBe(503);
    expect(a.json).toMatchObject({ error: { type: 'server_error' } });
    const b = await post(an, anBody);
    expect(b.status).toBe(503);
    expect(b.json).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    const s = await stream(oa, oaBody);
    expect(s.status).toBe(503);
  });

  it('error_rate: hits about the configured share of requests', async () => {
    h.setFaults({ error_rate: 0.5, error_statuses: [500, 502] });
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () => post(oa, oaBody).then((r) => r.status)),
    );
    const failed = statuses.filter((s) => s !== 200);
    expect(failed.length).toBeGreaterThan(8);
    expect(failed.length).toBeLessThan(32);
    for (const s of failed) expect([500, 502]).toContain(s);
  });

  it('rate_limit_rate: 429 with retry-after on both wires', async () => {
    h.setFaults({ rate_limit_rate: 1, retry_after_s: 2 });
    for (const [url, body, type] of [
      [oa, oaBody, { error: { type: 'rate_limit_error' } }],
      [an, anBody, { type: 'error', error: { type: 'rate_limit_error' } }],
    ] as const) {
      const r = await post(url, body);
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.headers.get('retry-after-ms')).toBe('2000');
      expect(r.json).toMatchObject(type);
    }
  });

  it('overloaded_rate: 529 overloaded_error on Anthropic, OpenAI-shaped 529 on OpenAI', async () => {
    h.setFaults({ overloaded_rate: 1 });
    const a = await post(an, anBody);
    expect(a.status).toBe(529);
    expect(a.json).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    const b = await post(oa, oaBody);
    expect(b.status).toBe(529);
    expect(b.json).toMatchObject({ error: { type: 'server_error', code: 'overloaded' } });
  });

  it('cut_after_tokens: drops the connection mid-stream (and unary answers never arrive)', async () => {
    const full = unaryText((await post(oa, oaBody)).json);
    h.setFaults({ cut_after_tokens: 3 });
    for (const url of [oa, an]) {
      const s = await stream(url, url === oa ? oaBody : anBody);
      expect(s.status).toBe(200);
      expect(s.error).toBeDefined();
      expect(s.deltas).toBe(3);
      expect(full.startsWith(s.text)).toBe(true);
      expect(s.finish).toBeUndefined();
    }
    const err = await rejection(post(oa, oaBody));
    expect(err).toBeInstanceOf(TypeError);
  });

  it('stall_after_tokens: stops sending but keeps the connection open', async () => {
    h.setFaults({ stall_after_tokens: 4 });
    const s = await stream(an, anBody, AbortSignal.timeout(400));
    expect(s.deltas).toBe(4);
    expect((s.error as Error).name).toBe('TimeoutError');
    expect(s.totalMs).toBeGreaterThanOrEqual(380);
  });

  it('malformed_after_tokens: one unparseable frame, then the stream goes on', async () => {
    const full = unaryText((await post(oa, oaBody)).json);
    h.setFaults({ malformed_after_tokens: 2 });
    const a = await stream(oa, oaBody);
    expect(a.malformed).toEqual(['{"choices": [']);
    expect(a.raw).toContain('\n\ndata: {"choices": [\n\n');
    expect(a.text).toBe(full);
    expect(a.raw.endsWith('data: [DONE]\n\n')).toBe(true);
    const b = await stream(an, anBody);
    expect(b.raw).toContain('event: content_block_delta\ndata: {"choices": [\n\n');
    expect(b.text).toBe(full);
    const c = await post(oa, oaBody);
    expect(c.status).toBe(200);
    expect(c.text).toBe('{"choices": [');
  });
});

describe('simulator: pacing and capacity', () => {
  it('honours ttft_ms and tokens_per_sec', async () => {
    const sim = await startSimulator({ options: { ttft_ms: 150, tokens_per_sec: 50, answer_tokens: 11 } });
    try {
      const s = await stream(`${sim.openaiBaseUrl}/chat/completions`, oaBody);
      expect(s.deltas).toBe(11);
      expect(s.firstTokenMs).toBeGreaterThanOrEqual(140);
      // Ten gaps of 20 ms after the first token.
      expect(s.totalMs - (s.firstTokenMs ?? 0)).toBeGreaterThanOrEqual(180);
      const t = performance.now();
      await post(`${sim.openaiBaseUrl}/chat/completions`, oaBody);
      expect(performance.now() - t).toBeGreaterThanOrEqual(140 + 200);
    } finally {
      await sim.close();
    }
  });

  it('rejects past capacity + queue: 429 on the OpenAI path, 529 on the Anthropic path', async () => {
    const sim = await startSimulator({
      options: {
        ttft_ms: 0,
        tokens_per_sec: 20,
        answer_tokens: 10,
        capacity: 1,
        queue: 0,
        faults: { retry_after_s: 1 },
      },
    });
    try {
      const first = stream(`${sim.openaiBaseUrl}/chat/completions`, oaBody);
      while (sim.stats().active < 1) await new Promise((r) => setTimeout(r, 5));
      const a = await post(`${sim.openaiBaseUrl}/chat/completions`, oaBody);
      expect(a.status).toBe(429);
      expect(a.headers.get('retry-after')).toBe('1');
      expect(a.json).toMatchObject({ error: { type: 'rate_limit_error' } });
      const b = await post(`${sim.anthropicBaseUrl}/v1/messages`, anBody);
      expect(b.status).toBe(529);
      expect(b.json).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
      expect((await first).deltas).toBe(10);
      expect(sim.stats()).toMatchObject({ active: 0, served: 1, rejected: 2 });
    } finally {
      await sim.close();
    }
  });

  it('serves the queue slower: the token rate shares capacity among active requests', async () => {
    const sim = await startSimulator({
      options: { ttft_ms: 0, tokens_per_sec: 50, answer_tokens: 11, capacity: 1, queue: 1 },
    });
    try {
      const url = `${sim.openaiBaseUrl}/chat/completions`;
      const alone = await stream(url, oaBody);
      const [x, y] = await Promise.all([stream(url, oaBody), stream(url, { ...oaBody, model: 'other' })]);
      expect(alone.totalMs).toBeLessThan(450);
      // Both ran at half speed: ten 40 ms gaps instead of 20 ms.
      expect(Math.min(x.totalMs, y.totalMs)).toBeGreaterThanOrEqual(330);
      expect(sim.stats()).toMatchObject({ served: 3, rejected: 0 });
    } finally {
      await sim.close();
    }
  });
});

describe('simulator: control API', () => {
  it('reads, patches, validates and resets faults', async () => {
    const initial = (await get(`${h.origin}/_sim/faults`)).json;
    expect(initial).toMatchObject({ refuse: false, blackhole: false, error_rate: 0 });
    const patched = await post(`${h.origin}/_sim/faults`, { error_rate: 0.5, cut_after_tokens: 7 });
    expect(patched.status).toBe(200);
    expect(h.faults()).toMatchObject({ error_rate: 0.5, cut_after_tokens: 7 });
    expect((await post(`${h.origin}/_sim/faults`, { error_rate: 2 })).status).toBe(400);
    expect((await post(`${h.origin}/_sim/faults`, { nonsense: true })).status).toBe(400);
    expect((await post(`${h.origin}/_sim/faults`, '[1]')).status).toBe(400);
    expect(h.faults().error_rate).toBe(0.5);
    await post(`${h.origin}/_sim/faults`, { cut_after_tokens: null });
    expect(h.faults().cut_after_tokens).toBeUndefined();
    const reset = await fetch(`${h.origin}/_sim/faults`, { method: 'DELETE' });
    expect(await reset.json()).toEqual(initial);
    expect(h.faults()).toEqual(initial);
    expect(() => h.setFaults({ error_rate: -1 })).toThrow();
  });

  it('applies a patch for a limited time with for_ms', async () => {
    await post(`${h.origin}/_sim/faults?for_ms=200`, { error_rate: 1 });
    expect((await post(oa, oaBody)).status).toBe(500);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.faults().error_rate).toBe(0);
    expect((await post(oa, oaBody)).status).toBe(200);
  });

  it('counts served, faulted and rejected requests', async () => {
    const before = (await get(`${h.origin}/_sim/stats`)).json as { served: number; faulted: number };
    await post(oa, oaBody);
    h.setFaults({ overloaded_rate: 1 });
    await post(oa, oaBody);
    const after = (await get(`${h.origin}/_sim/stats`)).json as {
      name: string;
      served: number;
      faulted: number;
      active: number;
    };
    expect(after).toMatchObject({
      name: 'sim-test',
      active: 0,
      served: before.served + 1,
      faulted: before.faulted + 1,
    });
  });
});

describe('simulator: close', () => {
  it('ends blackholed and stalled connections', async () => {
    const sim = await startSimulator({
      options: { ttft_ms: 0, tokens_per_sec: 0, faults: { stall_after_tokens: 2 } },
    });
    const stalled = stream(`${sim.openaiBaseUrl}/chat/completions`, oaBody);
    while (sim.stats().active < 1) await new Promise((r) => setTimeout(r, 5));
    sim.setFaults({ blackhole: true });
    const hung = post(`${sim.openaiBaseUrl}/chat/completions`, oaBody).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 50));
    const t = performance.now();
    await sim.close();
    expect(await hung).toBe('failed');
    const s = await stalled;
    expect(s.deltas).toBe(2);
    expect(s.error).toBeDefined();
    expect(performance.now() - t).toBeLessThan(1000);
    expect(await tryConnect(sim.port)).toBe('ECONNREFUSED');
  });
});
