import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { ChaosFault } from '../../src/chaos/faults.ts';
import type { ChaosLogger } from '../../src/chaos/routes.ts';
import type { buildServer } from '../../src/http/server.ts';
import type { Logger } from '../../src/telemetry/logger.ts';
import { ADMIN, chaosApp, USER } from './helpers.ts';

let h: Awaited<ReturnType<typeof chaosApp>>;
beforeAll(async () => {
  h = await chaosApp();
});
afterAll(() => h.app.close());
beforeEach(() => {
  h.registry.clear();
});

interface Body {
  now: number;
  fault: ChaosFault;
  faults: ChaosFault[];
  cleared: number;
  error: { message: string; type: string; code: string; param: string | null };
}

async function api(method: string, path: string, opts: { key?: string; body?: unknown } = {}) {
  const key = 'key' in opts ? opts.key : ADMIN;
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  return { status: res.status, type: res.headers.get('content-type'), json: (await res.json()) as Body };
}

describe('chaos admin routes', () => {
  it("accept the gateway's own Fastify app", () => {
    expectTypeOf<ReturnType<typeof buildServer>>().toExtend<FastifyInstance>();
    expectTypeOf<Logger>().toExtend<ChaosLogger>();
  });

  it('inject, list, clear one, clear a deployment, clear everything', async () => {
    const a = await api('POST', '/admin/chaos/sim-east', {
      body: { kind: 'error', rate: 0.5, status: 503, duration_s: 30 },
    });
    expect(a.status).toBe(201);
    expect(a.json.fault).toMatchObject({
      id: 'chaos_1',
      deployment: 'sim-east',
      kind: 'error',
      rate: 0.5,
      status: 503,
      duration_s: 30,
      hits: 0,
    });
    expect(a.json.fault.ends - a.json.fault.created).toBe(30_000);
    expect(h.logged.at(-1)).toMatchObject({ msg: 'chaos fault injected' });
    await api('POST', '/admin/chaos/sim-east', { body: { kind: 'latency', ms: 200, duration_s: 30 } });
    await api('POST', '/admin/chaos/sim-west', { body: { kind: 'refuse', duration_s: 30 } });

    const all = await api('GET', '/admin/chaos');
    expect(all.status).toBe(200);
    expect(typeof all.json.now).toBe('number');
    expect(all.json.faults.map((f) => f.id)).toEqual(['chaos_1', 'chaos_2', 'chaos_3']);
    const west = await api('GET', '/admin/chaos/sim-west');
    expect(west.json.faults.map((f) => f.kind)).toEqual(['refuse']);

    expect((await api('DELETE', '/admin/chaos/sim-east/chaos_2')).json).toEqual({ cleared: 1 });
    const gone = await api('DELETE', '/admin/chaos/sim-east/chaos_2');
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ code: 'not_found', param: 'faultId' });

    expect((await api('DELETE', '/admin/chaos/sim-east')).json).toEqual({ cleared: 1 });
    expect((await api('DELETE', '/admin/chaos')).json).toEqual({ cleared: 1 });
    expect((await api('GET', '/admin/chaos')).json.faults).toEqual([]);
  });

  it('404s an unknown deployment, naming the ones that exist', async () => {
    for (const [method, body] of [
      ['POST', { kind: 'refuse', duration_s: 5 }],
      ['GET', undefined],
      ['DELETE', undefined],
    ] as const) {
      const r = await api(method, '/admin/chaos/nope', body ? { body } : {});
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'not_found',
        param: 'deployment',
      });
      expect(r.json.error.message).toContain('sim-east, sim-west');
    }
  });

  it('400s a bad spec with the field path', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ kind: 'error', rate: 1.5, duration_s: 5 }, 'invalid_request', 'rate'],
      [{ kind: 'error', status: 404, duration_s: 5 }, 'invalid_request', 'status'],
      [{ kind: 'error' }, 'missing_field', 'duration_s'],
      [{ kind: 'cut', duration_s: 5 }, 'missing_field', 'after_tokens'],
      [{ kind: 'refuse', duration_s: 7200 }, 'invalid_request', 'duration_s'],
      [{ kind: 'refuse', duration_s: 5, after_tokens: 3 }, 'invalid_request', 'after_tokens'],
      [{ kind: 'meteor', duration_s: 5 }, 'unsupported_parameter', 'kind'],
      [{ duration_s: 5 }, 'missing_field', 'kind'],
    ];
    for (const [body, code, param] of cases) {
      const r = await api('POST', '/admin/chaos/sim-east', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code, param });
    }
    const arr = await api('POST', '/admin/chaos/sim-east', { body: [1] });
    expect(arr.status).toBe(400);
    expect(h.registry.list()).toEqual([]);
  });

  it('needs the admin key: 401 without a valid key, 403 for a caller key', async () => {
    for (const [method, path] of [
      ['GET', '/admin/chaos'],
      ['POST', '/admin/chaos/sim-east'],
      ['DELETE', '/admin/chaos'],
      ['DELETE', '/admin/chaos/sim-east/chaos_1'],
    ] as const) {
      const body = method === 'POST' ? { kind: 'refuse', duration_s: 5 } : undefined;
      const none = await api(method, path, { key: undefined, ...(body ? { body } : {}) });
      expect(none.status).toBe(401);
      expect(none.type).toContain('application/json');
      expect(none.json.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      const wrong = await api(method, path, { key: 'hf-wrong', ...(body ? { body } : {}) });
      expect(wrong.status).toBe(401);
      const user = await api(method, path, { key: USER, ...(body ? { body } : {}) });
      expect(user.status).toBe(403);
      expect(user.json.error).toMatchObject({ type: 'permission_error' });
      expect(user.json.error.message).toContain('admin key');
    }
    expect(h.registry.list()).toEqual([]);
  });
});
