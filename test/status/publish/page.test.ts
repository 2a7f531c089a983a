import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('status page', () => {
  it('renders the banner, groups, components, incidents, maintenance, history and subscribe form', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    const page = res.body;
    expect(page).toContain('<h1 id="banner-h">Partial System Outage</h1>');
    expect(page).toMatch(/<h3 class="ghead"><span>Models<\/span>/);
    expect(page).toMatch(/<h3 class="ghead"><span>Platform<\/span>/);
    for (const name of ['gpt-4o', 'claude-sonnet', 'llama-3.1-70b', 'API', 'Chat app'])
      expect(page).toContain(`<span class="name">${name}</span>`);
    expect(page).toContain('Partial outage');
    // 90 day bars on wide screens, 30 on phones, per component
    expect(page.match(/<rect class="day /g)?.length).toBe(5 * (90 + 30));
    expect(page).toMatch(/<title>[^<]+: 94\.00% uptime, worst: Partial outage<\/title>/);
    expect(page).toContain('Ongoing incidents');
    expect(page).toContain('Scheduled maintenance');
    expect(page).toContain('Database upgrade');
    expect(page).toContain('Past incidents');
    expect(page).toContain('Slow responses from claude-sonnet');
    expect(page).toContain('Load balancer replacement');
    expect(page).toContain('<link rel="alternate" type="application/atom+xml"');
    expect(page).toContain('<link rel="alternate" type="application/rss+xml"');
    expect(page).toContain('<form class="subscribe" method="post" action="/api/v2/subscribers">');
    expect(page).toContain('<svg viewBox="0 0 720 160"');
    // no inline script or style: the CSP forbids them
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page).not.toMatch(/\sstyle=/);
  });

  it('escapes operator text everywhere', async () => {
    const page = (await h.app.inject({ method: 'GET', url: '/status' })).body;
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(page).toContain('Elevated error rate on gpt-4o &lt;eu-west&gt;');
    expect(page).toContain('503 for 34% of requests &amp; traffic');
    const detail = (await h.app.inject({ method: 'GET', url: '/status/incidents/inc_active' })).body;
    expect(detail).not.toContain('<script>alert');
    expect(detail).toContain('&lt;script&gt;');
  });

  it('escapes an incident name that tries to close attributes', async () => {
    const original = h.view.data.incidents[0]!.name;
    h.view.data.incidents[0]!.name = '"><img src=x onerror=alert(1)>';
    try {
      const page = (await h.app.inject({ method: 'GET', url: '/status' })).body;
      expect(page).not.toContain('<img src=x');
      expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    } finally {
      h.view.data.incidents[0]!.name = original;
    }
  });

  it('has a detail page per incident with the whole timeline and the postmortem', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/status/incidents/inc_past' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<h1>Slow responses from claude-sonnet</h1>');
    expect(res.body.match(/<li class="update /g)?.length).toBe(3);
    expect(res.body).toContain('Postmortem');
    // the postmortem is Markdown, rendered with no way to smuggle markup or script links
    expect(res.body).toContain('<h4>What happened</h4>');
    expect(res.body).toContain('<strong>capacity change</strong>');
    expect(res.body).toContain('<li>We now alert on quota headroom.</li>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).toContain(
      '<a href="https://example.com/pm" rel="nofollow noopener noreferrer">Details</a>',
    );
    expect(res.body).not.toContain('javascript:');
    const missing = await h.app.inject({ method: 'GET', url: '/status/incidents/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('Incident not found');
  });

  it('serves its stylesheet and script', async () => {
    const css = await h.app.inject({ method: 'GET', url: '/status/assets/status.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    const js = await h.app.inject({ method: 'GET', url: '/status/assets/status.js' });
    expect(js.headers['content-type']).toContain('javascript');
    expect((await h.app.inject({ method: 'GET', url: '/status/assets/..%2Fpage.ts' })).statusCode).toBe(404);
  });
});

describe('badges and banner', () => {
  it('draws a badge in the component status colour', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/status/badge/cmp_gpt.svg' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/svg+xml');
    expect(res.body).toContain('<title>gpt-4o: partial outage</title>');
    expect(res.body).toContain('fill="#bc4c00"');
    const ok = await h.app.inject({ method: 'GET', url: '/status/badge/cmp_api.svg?label=<api>' });
    expect(ok.body).toContain('&lt;api&gt;: operational');
    const unknown = await h.app.inject({ method: 'GET', url: '/status/badge/nope.svg' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('unknown');
  });

  it('gives apps a small banner JSON', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/status/banner.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const b = res.json();
    expect(b.indicator).toBe('major');
    expect(b.description).toBe('Partial System Outage');
    expect(b.incidents).toEqual([
      expect.objectContaining({
        id: 'inc_active',
        name: 'Elevated error rate on gpt-4o <eu-west>',
        url: 'http://127.0.0.1:8080/status/incidents/inc_active',
      }),
    ]);
    expect(b.affected_components.map((c: { id: string }) => c.id).sort()).toEqual(['cmp_gpt', 'cmp_llama']);
  });
});

describe('subscribe answers', () => {
  it('are never cached (they carry the secret)', async () => {
    const h2 = await startHarness({
      config: { notifications: { allow_private_targets: true } },
    });
    try {
      const json = await h2.app.inject({
        method: 'POST',
        url: '/api/v2/subscribers',
        payload: { kind: 'webhook', target: 'http://127.0.0.1:9/x' },
      });
      expect(json.statusCode).toBe(201);
      expect(json.headers['cache-control']).toBe('no-store');
      const form = await h2.app.inject({
        method: 'POST',
        url: '/api/v2/subscribers',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'kind=webhook&target=http%3A%2F%2F127.0.0.1%3A9%2Fy',
      });
      expect(form.statusCode).toBe(201);
      expect(form.headers['cache-control']).toBe('no-store');
      expect(form.body).toContain('class="secret"');
    } finally {
      await h2.close();
    }
  });
});
