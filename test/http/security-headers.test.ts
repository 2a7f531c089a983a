import Fastify from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeHtmlHeaders, DEFAULT_HTML_CSP, everyResponse } from '../../src/http/security-headers.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { startHardened, statusAdminSession } from './harness.ts';

/**
 * Every page the gateway serves (chat UI, status page, operator pages, their error pages) carries the
 * browser security headers, and every answer at all, pages or API, carries nosniff (and HSTS when
 * configured). Pages are found by crawling from the three entry points, so a new page linked from any of
 * them is checked without this test naming it.
 */
const HSTS = 31_536_000;
let t: TestGateway;
let adminCookie = '';
let incidentId = '';

beforeAll(async () => {
  t = await startHardened({
    server: { hsts_max_age_s: HSTS },
    chat: { enabled: true },
    status: { enabled: true, probes: { enabled: false } },
  });
  const created = await fetch(`${t.url}/admin/status/incidents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Elevated errors', body: 'Looking into it.' }),
  });
  expect(created.status).toBe(201);
  incidentId = ((await created.json()) as { id: string }).id;
  adminCookie = await statusAdminSession(t.url, ADMIN_KEY);
}, 60_000);
afterAll(() => t?.close());

interface Seen {
  path: string;
  status: number;
  type: string;
  headers: Headers;
}

/** Follows href/src links and redirects within the site, from `start`, reading each answer's headers. */
async function crawl(start: string[], cookie?: string, limit = 150): Promise<Seen[]> {
  const queue = [...start];
  const seen = new Map<string, Seen>();
  while (queue.length > 0 && seen.size < limit) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    const r = await fetch(`${t.url}${path}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    const type = r.headers.get('content-type') ?? '';
    seen.set(path, { path, status: r.status, type, headers: r.headers });
    const links: string[] = [];
    const location = r.headers.get('location');
    if (location) links.push(location);
    if (type.startsWith('text/html')) {
      const body = await r.text();
      for (const m of body.matchAll(/\b(?:href|src)="([^"]+)"/g)) links.push(m[1]!.replaceAll('&amp;', '&'));
    } else {
      await r.arrayBuffer();
    }
    for (const link of links) {
      const u = new URL(link, `${t.url}${path}`);
      if (u.origin !== t.url || u.pathname === '/status/admin/signout') continue;
      const next = `${u.pathname}${u.search}`;
      if (!seen.has(next)) queue.push(next);
    }
  }
  return [...seen.values()];
}

function expectPageHeaders(p: Seen): void {
  const h = p.headers;
  const where = `${p.path} (${p.status})`;
  const csp = h.get('content-security-policy') ?? '';
  expect(csp, where).toContain("frame-ancestors 'none'");
  expect(csp, where).toContain("default-src 'none'");
  expect(csp, where).toContain("base-uri 'none'");
  expect(csp, where).not.toContain("'unsafe-inline'");
  expect(csp, where).not.toContain("'unsafe-eval'");
  expect(h.get('x-frame-options'), where).toBe('DENY');
  expect(h.get('x-content-type-options'), where).toBe('nosniff');
  expect(h.get('referrer-policy'), where).toMatch(
    /^(same-origin|strict-origin-when-cross-origin|no-referrer)$/,
  );
  expect(h.get('cross-origin-opener-policy'), where).toBe('same-origin');
  expect(h.get('strict-transport-security'), where).toBe(`max-age=${HSTS}`);
}

describe('security headers', () => {
  it('every page reachable from the chat UI, the status page and the operator pages has them', async () => {
    const pub = await crawl(['/', '/index.html', '/status', '/status/', `/status/incidents/${incidentId}`]);
    const ops = await crawl(
      ['/status/admin', '/status/admin/maintenance', '/status/admin/reports'],
      adminCookie,
    );
    // Pages no link leads to: error pages and the ones mail links open.
    const extra = await crawl([
      '/status/incidents/no-such-incident',
      '/status/unsubscribe?id=x&token=y',
      '/status/confirm?id=x&token=y',
      '/status/admin/incidents/no-such-incident',
      '/status/admin/signin',
    ]);
    const all = [...pub, ...ops, ...extra];
    const pages = all.filter((p) => p.type.startsWith('text/html'));
    const paths = new Set(pages.map((p) => p.path.split('?')[0]));
    // The crawl really reached every face.
    for (const must of [
      '/',
      '/status',
      `/status/incidents/${incidentId}`,
      '/status/admin',
      `/status/admin/incidents/${incidentId}`,
      '/status/admin/maintenance',
      '/status/admin/reports',
      '/status/admin/subscribers',
      '/status/admin/signin',
      '/status/unsubscribe',
    ])
      expect(paths, must).toContain(must);
    for (const p of pages) expectPageHeaders(p);
    // Everything else (scripts, styles, images, feeds, redirects) is at least not sniffable.
    for (const p of all) expect(p.headers.get('x-content-type-options'), p.path).toBe('nosniff');
    console.log(JSON.stringify({ pagesChecked: pages.length, responsesChecked: all.length }));
  });

  it("fills in what a page lacks and keeps what it set; the chat UI keeps its import map's hash", async () => {
    const app = Fastify();
    app.addHook('onSend', (_req, reply, payload, done) => {
      completeHtmlHeaders(reply);
      done(null, payload);
    });
    app.get('/bare', async (_req, reply) => reply.type('text/html').send('<p>hi</p>'));
    app.get('/own', async (_req, reply) =>
      reply.type('text/html; charset=utf-8').header('referrer-policy', 'no-referrer').send('<p>hi</p>'),
    );
    app.get('/json', async () => ({ ok: true }));
    const bare = await app.inject('/bare');
    expect(bare.headers['content-security-policy']).toBe(DEFAULT_HTML_CSP);
    expect(bare.headers['x-frame-options']).toBe('DENY');
    expect(bare.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect((await app.inject('/own')).headers['referrer-policy']).toBe('no-referrer');
    expect((await app.inject('/json')).headers['content-security-policy']).toBeUndefined();
    await app.close();

    const index = await fetch(`${t.url}/`);
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-/);
  });

  it('API answers (JSON, streamed, written straight to the socket, errors) get nosniff and HSTS', async () => {
    const openai = new OpenAI({ apiKey: ADMIN_KEY, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const unary = await openai.chat.completions
      .create({ model: 'sim-openai', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const stream = await openai.chat.completions
      .create({ model: 'sim-openai', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    for await (const _ of stream.data) {
      // drain
    }
    const answers: Array<[string, Headers]> = [
      ['unary completion', unary.response.headers],
      ['streamed completion', stream.response.headers],
    ];
    for (const [what, init] of [
      ['models', { path: '/v1/models', headers: { authorization: `Bearer ${ADMIN_KEY}` } }],
      ['401', { path: '/v1/models', headers: {} }],
      ['dialect 404', { path: '/v1/nope', headers: {} }],
      ['chat API 401', { path: '/api/conversations', headers: {} }],
      ['chat API 404', { path: '/api/nope', headers: {} }],
      ['status API', { path: '/api/v2/summary.json', headers: {} }],
      ['health', { path: '/health/live', headers: {} }],
    ] as const) {
      const r = await fetch(`${t.url}${init.path}`, { headers: init.headers });
      await r.arrayBuffer();
      answers.push([what, r.headers]);
    }
    const bad = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    await bad.arrayBuffer();
    answers.push(['invalid json', bad.headers]);
    for (const [what, h] of answers) {
      expect(h.get('x-content-type-options'), what).toBe('nosniff');
      expect(h.get('strict-transport-security'), what).toBe(`max-age=${HSTS}`);
    }
  });

  it('an error Fastify raises before routing (a malformed URL) is a dialect error with the same headers', async () => {
    const r = await fetch(`${t.url}/v1/models/%E0%A4%A`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('strict-transport-security')).toBe(`max-age=${HSTS}`);
    expect(r.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await r.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.code).toBe('invalid_request');
  });

  it('sends no HSTS unless configured', () => {
    const set = new Map<string, string>();
    const res = { setHeader: (k: string, v: string) => set.set(k, v) };
    everyResponse({ hstsMaxAgeS: 0 })(res as never);
    expect([...set.keys()]).toEqual(['x-content-type-options']);
    set.clear();
    everyResponse({ hstsMaxAgeS: 600 })(res as never);
    expect(set.get('strict-transport-security')).toBe('max-age=600');
  });
});
