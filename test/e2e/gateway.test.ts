import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_CHANNEL, type OutcomeRecord } from '../../src/telemetry/outcome.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
const outcomes: OutcomeRecord[] = [];
const onOutcome = (m: unknown): void => {
  outcomes.push(m as OutcomeRecord);
};

beforeAll(async () => {
  t = await startTestGateway({ server: { body_limit_bytes: 4096 } });
  subscribe(OUTCOME_CHANNEL, onOutcome);
});
afterAll(async () => {
  unsubscribe(OUTCOME_CHANNEL, onOutcome);
  await t?.close();
});

const chat = { model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] };
const msg = { model: 'sim-anthropic', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] };

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function outcomeFor(requestId: string): Promise<OutcomeRecord[]> {
  // The record is published in the handler's finally, which can run just after the last byte.
  for (let i = 0; i < 50 && !outcomes.some((o) => o.requestId === requestId); i++)
    await new Promise((r) => setTimeout(r, 10));
  return outcomes.filter((o) => o.requestId === requestId);
}

describe('health and request ids', () => {
  it('serves liveness and readiness', async () => {
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${t.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('returns an x-request-id, keeping a well-formed one from the caller', async () => {
    const minted = await post('/v1/chat/completions', chat);
    expect(minted.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    const kept = await post('/v1/chat/completions', chat, { 'x-request-id': 'trace-abc.123' });
    expect(kept.headers.get('x-request-id')).toBe('trace-abc.123');
    const bad = await post('/v1/chat/completions', chat, { 'x-request-id': 'has spaces; and {braces}' });
    expect(bad.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('outcome records', () => {
  it('publishes exactly one record for a success, with tokens, latencies and the deployment', async () => {
    const res = await post('/v1/chat/completions', { ...chat, stream: true });
    await res.text();
    const recs = await outcomeFor(res.headers.get('x-request-id')!);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      ok: true,
      outcome: 'success',
      status: 200,
      stream: true,
      dialect: 'openai',
      model: 'sim-openai',
      deployment: 'sim-oa',
      region: 'east',
      provider: 'simulator',
      attempts: 1,
    });
    expect(recs[0]!.outputTokens).toBeGreaterThan(0);
    expect(recs[0]!.inputTokens).toBeGreaterThan(0);
    expect(recs[0]!.ttftMs).toBeGreaterThanOrEqual(0);
    expect(recs[0]!.latencyMs).toBeGreaterThanOrEqual(recs[0]!.ttftMs!);
  });

  it('publishes exactly one record for a request whose body never parsed', async () => {
    const res = await post('/v1/messages', '{"model":', {});
    expect(res.status).toBe(400);
    const recs = await outcomeFor(res.headers.get('x-request-id')!);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      ok: false,
      outcome: 'client_error',
      status: 400,
      errorCode: 'invalid_json',
      dialect: 'anthropic',
      attempts: 0,
    });
  });

  it('publishes one record for an unknown model', async () => {
    const res = await post('/v1/chat/completions', { ...chat, model: 'missing' });
    const recs = await outcomeFor(res.headers.get('x-request-id')!);
    expect(recs).toEqual([
      expect.objectContaining({ status: 404, errorCode: 'model_not_found', outcome: 'client_error' }),
    ]);
  });
});

describe('bad input never crashes and answers in the caller dialect', () => {
  it.each([
    ['/v1/chat/completions', 'not json', 400, 'invalid_json'],
    ['/v1/chat/completions', '', 400, 'invalid_json'],
    ['/v1/chat/completions', '[1,2]', 400, 'invalid_request'],
    ['/v1/chat/completions', JSON.stringify({ ...chat, padding: 'x'.repeat(5000) }), 413, 'body_too_large'],
  ])('OpenAI door: %s %j → %i %s', async (path, body, status, code) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { code: string; type: string; message: string } };
    expect(json.error.code).toBe(code);
    expect(json.error.message).not.toMatch(/ at .*\.ts:\d+/);
  });

  it.each([
    ['not json', 400, 'invalid_request_error'],
    [JSON.stringify({ ...msg, padding: 'x'.repeat(5000) }), 413, 'request_too_large'],
  ])('Anthropic door: %j → %i %s', async (body, status, type) => {
    const res = await post('/v1/messages', body, { 'anthropic-version': '2023-06-01' });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type } });
  });

  it('parses JSON bodies sent without a JSON content type (curl -d)', async () => {
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: JSON.stringify(chat),
    });
    expect(res.status).toBe(200);
  });

  it('unknown routes get a 404 in the dialect the caller speaks', async () => {
    const oa = await fetch(`${t.url}/v1/nothing`);
    expect(oa.status).toBe(404);
    expect(await oa.json()).toMatchObject({ error: { code: 'not_found' } });
    const an = await fetch(`${t.url}/v1/nothing`, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(await an.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('survives a burst of garbage and still serves', async () => {
    const junk = [
      '{',
      'null',
      '1',
      '"s"',
      '{"model":null}',
      '{"messages":{}}',
      '{"model":"sim-openai","messages":[{"role":7}]}',
    ];
    const results = await Promise.all(
      junk.flatMap((b) => [post('/v1/chat/completions', b), post('/v1/messages', b)]),
    );
    for (const r of results) {
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
    expect((await post('/v1/chat/completions', chat)).status).toBe(200);
  });
});

describe('bodies a method does not need', () => {
  it('accepts a DELETE that names a JSON content type but sends nothing (clearing chaos faults)', async () => {
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    const injected = await fetch(`${t.url}/admin/chaos/${t.gw.deployments[0]!.config.id}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ kind: 'error', duration_s: 30 }),
    });
    expect(injected.status).toBe(201);
    const cleared = await fetch(`${t.url}/admin/chaos`, { method: 'DELETE', headers });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toEqual({ cleared: 1 });
  });

  it('still refuses a POST with an empty body, in the dialect', async () => {
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
  });
});

describe('virtual keys', () => {
  it('requires a key, in both dialects', async () => {
    const oa = await post('/v1/chat/completions', chat, { authorization: '' });
    expect(oa.status).toBe(401);
    expect(await oa.json()).toMatchObject({
      error: { type: 'authentication_error', code: 'invalid_api_key' },
    });
    const an = await post('/v1/messages', msg, { authorization: '' });
    expect(an.status).toBe(401);
    expect(await an.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('accepts created keys by bearer or x-api-key, scopes them to models, and rejects revoked ones', async () => {
    const { record, secret } = await t.gw.keys.createKey({ name: 'scoped', models: ['sim-openai'] });
    expect(secret).toMatch(/^hf-/);
    expect((await post('/v1/chat/completions', chat, { authorization: `Bearer ${secret}` })).status).toBe(
      200,
    );
    expect(
      (
        await post(
          '/v1/chat/completions',
          { ...chat, model: 'sim-openai' },
          { authorization: '', 'x-api-key': secret },
        )
      ).status,
    ).toBe(200);
    const denied = await post('/v1/messages', msg, { authorization: '', 'x-api-key': secret });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { type: 'permission_error' } });

    const other = await t.gw.keys.createKey({ name: 'to-revoke', models: ['*'] });
    await t.gw.keys.revokeKey(other.record.id);
    // Never seen before, so not cached: revocation applies at once.
    expect(
      (await post('/v1/chat/completions', chat, { authorization: `Bearer ${other.secret}` })).status,
    ).toBe(401);
    expect(record.models).toEqual(['sim-openai']);
  });

  it('scopes the model list to the key', async () => {
    const { secret } = await t.gw.keys.createKey({ name: 'list', models: ['sim-anthropic'] });
    const res = await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    const body = (await res.json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id)).toEqual(['sim-anthropic']);
  });
});

describe('open mode', () => {
  it('is on by default only on loopback without an admin key', async () => {
    const open = await startTestGateway({ auth: {} });
    try {
      expect(open.gw.openMode).toBe(true);
      const res = await fetch(`${open.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(chat),
      });
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
    expect(t.gw.openMode).toBe(false);
  });
});
