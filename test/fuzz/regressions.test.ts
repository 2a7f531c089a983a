import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, tooDeep } from '../../src/core/json-depth.ts';
import { answerFrameworkError } from '../../src/http/errors.ts';
import { isDataException } from '../../src/stores/data-errors.ts';
import { ChatClient, type Json } from '../helpers/chat-client.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * One test per bug the fuzzer found (docs/security.md, "Fuzzing"), each with the input that showed it,
 * against a real gateway over HTTP.
 */

const deep = (n: number, leaf = '1'): string => `${'{"a":'.repeat(n)}${leaf}${'}'.repeat(n)}`;

let t: TestGateway;
let chat: ChatClient;
beforeAll(async () => {
  t = await startTestGateway({ store: { data_dir: 'memory://' } });
  chat = await ChatClient.signUp(t.url, 'Regress');
});
afterAll(() => t.close());

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, json: (await res.json()) as Json };
}

describe('fuzz regressions: the front doors', () => {
  it("a door's path, not an anthropic-version header, picks the error dialect", async () => {
    // Found with: POST /v1/chat/completions, content-type "", anthropic-version: 2023-06-01 → Anthropic shape.
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'anthropic-version': '2023-06-01',
        'content-type': '',
      },
      body: '{"model":"sim-openai","messages":[{"role":"user","content":"!"}]}',
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: { code: 'unsupported_media_type', param: null } });
  });

  it('deeply nested tool parameters are a 400, not an upstream failure that marks deployments sick', async () => {
    // Found with: tools[0].function.parameters nested 10,000 levels → 503 "upstream connection failure:
    // RangeError Maximum call stack size exceeded", and both deployments turned suspect.
    for (const model of ['sim-openai', 'sim-anthropic']) {
      const r = await post(
        '/v1/chat/completions',
        `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep(10_000)}}}]}`,
      );
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ code: 'invalid_request', param: 'tools.0.function.parameters' });
    }
    expect(t.gw.engine.health('sim-oa')).toBe('healthy');
    expect(t.gw.engine.health('sim-an')).toBe('healthy');
  });

  it('a deeply nested tool_use input in an Anthropic request is a 400, not a 500', async () => {
    const r = await post(
      '/v1/messages',
      `{"model":"sim-openai","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":${deep(10_000)}}]},{"role":"user","content":"x"}]}`,
    );
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(r.json.error.message).toContain(`more than ${MAX_JSON_DEPTH} levels`);
  });

  it("a caller's own short deadline is a 504 for that caller and no failure of the deployment", async () => {
    // Found with: x-holdfast-deadline-ms: 1 → 503 no_healthy_upstream, and the deployment turned suspect.
    for (let i = 0; i < 8; i++) {
      const r = await post(
        '/v1/chat/completions',
        '{"model":"sim-openai","messages":[{"role":"user","content":"hi"}]}',
        {
          'x-holdfast-deadline-ms': '1',
        },
      );
      expect(r.status).toBe(504);
      expect(r.json.error.code).toBe('upstream_timeout');
    }
    expect(t.gw.engine.health('sim-oa')).toBe('healthy');
    const ok = await post(
      '/v1/chat/completions',
      '{"model":"sim-openai","messages":[{"role":"user","content":"hi"}]}',
    );
    expect(ok.status).toBe(200);
  });
});

describe('fuzz regressions: the JSON APIs', () => {
  it('gateway-level refusals under /api/ use the API error shape', async () => {
    // Found with: POST /api/auth/logout/ (no such route) with an empty JSON body → OpenAI's error shape;
    // DELETE /api/v2/subscribers/x with content-type "" and anthropic-version → Anthropic's.
    const a = await fetch(`${t.url}/api/auth/logout/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '',
    });
    expect(a.status).toBe(400);
    expect(await a.json()).toEqual({ error: { code: 'invalid_json', message: expect.any(String) } });
    const b = await fetch(`${t.url}/api/v2/subscribers/sub_x`, {
      method: 'DELETE',
      headers: { 'content-type': '', 'anthropic-version': '' },
      body: 'null',
    });
    expect(b.status).toBe(415);
    expect(await b.json()).toEqual({
      error: { code: 'unsupported_media_type', message: expect.any(String) },
    });
  });

  it('a chat body nested too deeply is a 400, not a 500', async () => {
    // Found with: PUT /api/characters/:id with character.extensions nested ~5,000 levels (jsonb overflowed).
    const res = await fetch(`${t.url}/api/characters`, {
      method: 'POST',
      headers: { cookie: chat.cookie, 'x-csrf-token': chat.csrf, 'content-type': 'application/json' },
      body: `{"character":{"name":"x","extensions":${deep(5_000)}}}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error.code).toBe('invalid_request');
  });

  it('text the database cannot store (NUL) is a 400 in the chat and status APIs', async () => {
    // Found with: a NUL character in a message, a persona name, character extensions, a public report.
    const conv = await chat.call('POST', '/api/conversations', {});
    const sent = await chat.call('POST', `/api/conversations/${conv.body.conversation.id}/messages`, {
      content: 'a\u0000b',
      idempotencyKey: 'nul-key-123',
    });
    expect(sent.status).toBe(400);
    expect(sent.body.error.code).toBe('invalid_request');
    const persona = await chat.call('POST', '/api/personas', { name: 'a\u0000b' });
    expect(persona.status).toBe(400);
    const components = (await (await fetch(`${t.url}/api/v2/components.json`)).json()) as Json;
    const report = await fetch(`${t.url}/api/v2/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        component_id: components.components.find((c: Json) => !c.group).id,
        text: 'a\u0000',
      }),
    });
    expect(report.status).toBe(400);
    expect(((await report.json()) as Json).error.code).toBe('invalid_request');
    const incident = await post('/admin/status/incidents', JSON.stringify({ name: 'a\u0000', body: 'b' }));
    expect(incident.status).toBe(400);
  });

  it('an import with duplicate message ids, or a date the database cannot hold, is a 400', async () => {
    // Found with: two messages with id "m1" in one conversation (primary key violation → 500).
    const msg = (id: string, extra: Record<string, unknown> = {}) => ({
      id,
      parentId: null,
      role: 'user',
      content: 'hi',
      status: 'complete',
      meta: {},
      ...extra,
    });
    const file = (messages: unknown[]) => ({
      version: 1,
      conversations: [{ title: 't', model: 'sim-openai', messages }],
    });
    const dup = await chat.call('POST', '/api/import', file([msg('m1'), msg('m1')]));
    expect(dup.status).toBe(400);
    expect(dup.body.error.message).toContain('unique');
    const old = await chat.call(
      'POST',
      '/api/import',
      file([msg('m1', { createdAt: '-010000-01-01T00:00:00Z' })]),
    );
    expect(old.status).toBe(400);
    const fine = await chat.call('POST', '/api/import', file([msg('m1'), msg('m2', { parentId: 'm1' })]));
    expect(fine.status).toBe(201);
  });

  it('a chaos fault whose kind is a deeply nested list is a 400, not a 500', async () => {
    // Found with: {"kind":[[[…3,134 levels…]]],"duration_s":1} (String() of the list overflowed the stack).
    const r = await post(
      '/admin/chaos/sim-oa',
      `{"kind":${'['.repeat(5_000)}${']'.repeat(5_000)},"duration_s":1}`,
    );
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'unsupported_parameter', param: 'kind' });
  });
});

describe('fuzz regressions: helpers', () => {
  it('tooDeep finds the first container past the limit without recursing', () => {
    expect(tooDeep({ a: [1, { b: 2 }] })).toBeUndefined();
    expect(tooDeep(JSON.parse(deep(3)), 2)).toBeUndefined();
    expect(tooDeep(JSON.parse(deep(4)), 2)).toEqual(['a', 'a', 'a']);
    expect(tooDeep(JSON.parse(`[${'['.repeat(200_000)}${']'.repeat(200_000)}]`))?.length).toBe(
      MAX_JSON_DEPTH + 1,
    );
    expect(tooDeep('[[[[')).toBeUndefined();
  });

  it("isDataException knows Postgres's data exceptions (class 22) and nothing else", () => {
    expect(isDataException({ code: '22021' })).toBe(true);
    expect(isDataException({ code: '22P05' })).toBe(true);
    expect(isDataException({ code: '23505' })).toBe(false);
    expect(isDataException(new Error('22021'))).toBe(false);
    expect(isDataException(undefined)).toBe(false);
  });

  it("answerFrameworkError renders Fastify's pre-routing refusals in the caller's shape", async () => {
    // Found with: GET /%ff → {"error":"Bad Request","code":"FST_ERR_BAD_URL",...}; a 300-character path
    // parameter → 414 FST_ERR_MAX_PARAM_LENGTH. (src/http/server.ts still has to pass this to Fastify.)
    const app = Fastify({ frameworkErrors: answerFrameworkError });
    app.get('/v1/models/:id', async () => ({}));
    app.get('/api/things/:id', async () => ({}));
    const bad = await app.inject({ method: 'GET', url: '/%ff' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'invalid_request', type: 'invalid_request_error' } });
    const anthropic = await app.inject({
      method: 'GET',
      url: '/v1/models/%ff',
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const long = await app.inject({ method: 'GET', url: `/api/things/${'a'.repeat(300)}` });
    expect(long.statusCode).toBe(414);
    expect(long.json()).toEqual({ error: { code: 'uri_too_long', message: expect.any(String) } });
    expect(long.headers['x-request-id']).toBeDefined();
    await app.close();
  });
});
