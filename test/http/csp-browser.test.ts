import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBrowser, LAPTOP, launchBrowser, signUpAndStartChat } from '../helpers/browser.ts';
import { ADMIN_KEY, type TestGateway } from '../helpers/gateway.ts';
import { startHardened, statusAdminSession } from './harness.ts';

/**
 * The real gateway's pages in a real Chromium, under the headers the server sends (CSP, COOP, framing):
 * the chat UI through sign-up and a streamed answer, the status page with its script, and the operator
 * pages. Any `securitypolicyviolation` event, CSP console message or script error fails the test.
 */
describeBrowser('pages under their CSP in Chromium', () => {
  let t: TestGateway;
  let browser: Browser;
  let incidentId = '';

  beforeAll(async () => {
    t = await startHardened({
      chat: { enabled: true },
      status: { enabled: true, probes: { enabled: false } },
    });
    const created = await fetch(`${t.url}/admin/status/incidents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Slow answers', body: 'Investigating **slow** answers.' }),
    });
    incidentId = ((await created.json()) as { id: string }).id;
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** A page whose CSP violations and errors are collected; the listener is in place before any script. */
  async function watched(
    context: BrowserContext,
  ): Promise<{ page: Page; problems: () => Promise<string[]> }> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    // A string (run in the page): this file is type-checked without the DOM library.
    await page.addInitScript(`
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
      });
    `);
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // The chat UI asks /api/auth/me before sign-in and gets a 401: that one is expected.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text());
      if (/Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    return {
      page,
      problems: async () => {
        const csp = await page.evaluate<string[]>('window.__csp').catch(() => []);
        return [...errors, ...csp];
      },
    };
  }

  it('the chat UI: sign up, start a chat, stream an answer', { timeout: 45_000 }, async () => {
    const context = await browser.newContext({ viewport: LAPTOP });
    const { page, problems } = await watched(context);
    await signUpAndStartChat(page, t.url);
    await page.getByLabel('Message', { exact: true }).fill('Hello there, show me some `code`');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    const last = page.locator('[data-testid="message"][data-role="assistant"]').last();
    await expect.poll(() => last.getAttribute('data-status'), { timeout: 20_000 }).toBe('complete');
    expect((await last.textContent())?.length ?? 0).toBeGreaterThan(10);
    expect(await problems()).toEqual([]);
    await context.close();
  });

  it('the status page and an incident page run their script', async () => {
    const context = await browser.newContext({ viewport: LAPTOP });
    const { page, problems } = await watched(context);
    await page.goto(`${t.url}/status`);
    // status.js ran (CSP let it): it notes the reader's time zone.
    await expect.poll(() => page.locator('.tz-note').textContent()).toContain('your time zone');
    await page.goto(`${t.url}/status/incidents/${incidentId}`);
    await page.waitForLoadState('load');
    expect(await problems()).toEqual([]);
    // The watch itself works: an injected inline script is refused and reported.
    await page.evaluate(`{
      const s = document.createElement('script');
      s.textContent = 'document.title = "pwned"';
      document.head.append(s);
    }`);
    await expect
      .poll(async () => (await problems()).some((p) => p.startsWith('script-src-elem blocked inline')))
      .toBe(true);
    expect(await page.title()).not.toBe('pwned');
    await context.close();
  });

  it('the operator pages, signed in', async () => {
    const cookie = await statusAdminSession(t.url, ADMIN_KEY);
    const [name, value] = cookie.split('=') as [string, string];
    const context = await browser.newContext({ viewport: LAPTOP, javaScriptEnabled: false });
    await context.addCookies([{ name, value, url: t.url }]);
    const { page, problems } = await watched(context);
    for (const path of [
      '/status/admin',
      `/status/admin/incidents/${incidentId}`,
      '/status/admin/maintenance',
      '/status/admin/reports',
      '/status/admin/subscribers',
    ]) {
      const res = await page.goto(`${t.url}${path}`);
      expect(res?.status(), path).toBe(200);
      // Its stylesheet applied (style-src 'self' let it load).
      const styled = await page.evaluate<number>('document.styleSheets.length');
      expect(styled, path).toBeGreaterThan(0);
    }
    expect(await problems()).toEqual([]);
    await context.close();
  });
});
