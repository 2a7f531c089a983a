import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBrowser, LAPTOP, launchBrowser, PHONE, screenshotPath } from '../helpers/browser.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { call, startStatusGateway } from './gateway.ts';

/** An operator in a real Chromium, JavaScript off: signs in with the admin key and posts an update. */
describeBrowser('operator pages in Chromium', () => {
  let t: TestGateway;
  let browser: Browser;
  let incident = '';
  const errors: string[] = [];

  beforeAll(async () => {
    t = await startStatusGateway();
    const api = t.gw.status!.componentId('platform:api')!;
    const model = t.gw.status!.componentId('model:sim-openai')!;
    const created = await call(t.url, 'POST', '/admin/status/incidents', {
      name: 'Elevated errors on sim-openai',
      body: 'We are seeing elevated error rates and are looking into it.',
      component_ids: [api, model],
    });
    incident = created.body.id;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const watch = (page: Page) => {
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.text()} @ ${m.location().url}`);
    });
  };

  it('signs in, posts an update, and the public API has it', { timeout: 30_000 }, async () => {
    const context = await browser.newContext({ viewport: LAPTOP, javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(5_000);
    watch(page);
    await page.goto(`${t.url}/status/admin/incidents/${incident}`);
    // Not signed in: the sign-in form, which brings us back here afterwards.
    expect(new URL(page.url()).pathname).toBe('/status/admin/signin');
    await page.getByLabel('Admin key').fill('not the key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('.error').textContent()).toContain('not the admin key');
    await page.getByLabel('Admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/status/admin/incidents/${incident}`);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'hf_status_admin')).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });

    await page.locator('#up-status').selectOption('identified');
    await page.getByLabel('Message').fill('A bad deploy of the upstream proxy. Rolling it back now.');
    await page.getByRole('button', { name: 'Post update' }).click();
    await expect.poll(() => page.locator('.notice').textContent()).toBe('Update posted.');
    await expect
      .poll(() => page.locator('.timeline .update').first().textContent())
      .toContain('Rolling it back now.');
    // Set a component's status by hand from the same page.
    const row = page.locator('tr', { hasText: 'sim-openai' });
    await row.getByRole('combobox').selectOption('partial_outage');
    await row.getByRole('button', { name: 'Set' }).click();
    await expect.poll(() => page.locator('.notice').textContent()).toBe('Component status changed.');
    await page.screenshot({ path: screenshotPath('status-admin-incident-1280'), fullPage: true });

    const open = (await call(t.url, 'GET', '/api/v2/incidents/unresolved.json')).body.incidents;
    const inc = open.find((i: { id: string }) => i.id === incident);
    expect(inc.status).toBe('identified');
    expect(inc.incident_updates.some((u: { body: string }) => u.body.includes('Rolling it back now.'))).toBe(
      true,
    );
    const comps = (await call(t.url, 'GET', '/api/v2/components.json')).body.components;
    expect(comps.find((c: { name: string }) => c.name === 'sim-openai').status).toBe('partial_outage');

    // Usable at phone width: no sideways scrolling of the page itself.
    await page.setViewportSize(PHONE);
    await page.goto(`${t.url}/status/admin`);
    expect(
      await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
    ).toBeLessThanOrEqual(0);
    await page.screenshot({ path: screenshotPath('status-admin-incidents-390'), fullPage: true });
    // The one expected complaint: the wrong key's 401.
    expect(errors.filter((e) => !/status of 401 .*\/status\/admin\/signin$/.test(e))).toEqual([]);
    await context.close();
  });
});
