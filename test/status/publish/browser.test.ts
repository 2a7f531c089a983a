import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBrowser, LAPTOP, launchBrowser, PHONE, screenshotPath } from '../../helpers/browser.ts';
import { type Harness, startHarness } from './harness.ts';

/** The status page in a real Chromium: no script errors or CSP violations, usable at phone width. */
describeBrowser('status page in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    // hooks.example.com "resolves" to a public address from a table; nothing is ever sent to it.
    h = await startHarness({
      listen: true,
      deps: { resolve: async () => [{ address: '93.184.216.34', family: 4 }] },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  async function open(width: number, height: number, path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.text()} @ ${m.location().url}`);
    });
    const res = await page.goto(`${h.url}${path}`);
    expect(res?.status()).toBe(200);
    await page.waitForLoadState('load');
    return page;
  }

  it('renders at laptop width with no console errors', async () => {
    const page = await open(LAPTOP.width, LAPTOP.height, '/status');
    await expect.poll(() => page.locator('h1').first().textContent()).toBe('Partial System Outage');
    // The script ran (CSP allowed it): times are in the reader's zone, the note says so.
    await expect.poll(() => page.locator('.tz-note').textContent()).toContain('your time zone');
    // The wide layout shows 90 days
    expect(await page.locator('.span90 .bars').first().isVisible()).toBe(true);
    expect(await page.locator('.span30 .bars').first().isVisible()).toBe(false);
    await page.screenshot({ path: screenshotPath('status-page-1280'), fullPage: true });
    await page.screenshot({ path: screenshotPath('status-page-1280-top') });
    const pm = await page.context().newPage();
    await pm.goto(`${h.url}/status/incidents/inc_past`);
    await pm.screenshot({ path: screenshotPath('status-postmortem-1280'), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('fits a phone screen: no sideways scrolling, 30-day bars', async () => {
    const page = await open(PHONE.width, PHONE.height, '/status');
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await page.locator('.span30 .bars').first().isVisible()).toBe(true);
    expect(await page.locator('.span90 .bars').first().isVisible()).toBe(false);
    await page.screenshot({ path: screenshotPath('status-page-390'), fullPage: true });
    await page.screenshot({ path: screenshotPath('status-page-390-top') });
    await page.locator('#components-h').scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('status-page-390-components') });
    const detail = await open(PHONE.width, PHONE.height, '/status/incidents/inc_active');
    expect(
      await detail.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
    ).toBeLessThanOrEqual(0);
    await detail.screenshot({ path: screenshotPath('status-incident-390'), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();
    await detail.context().close();
  });

  it('works without JavaScript: the subscribe form posts and shows the secret', async () => {
    const context = await browser.newContext({ viewport: LAPTOP, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${h.url}/status`);
    await page.getByRole('radio', { name: 'Webhook' }).check();
    // allow_private_targets is off, so a loopback URL is refused with a readable page
    await page.getByRole('textbox', { name: 'Webhook URL' }).fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Could not subscribe');
    expect(await page.locator('main').textContent()).toContain('non-public address');
    await page.screenshot({ path: screenshotPath('status-subscribe-refused-1280') });
    await page.goto(`${h.url}/status#subscribe`);
    await page.getByRole('radio', { name: 'Webhook' }).check();
    await page.getByRole('textbox', { name: 'Webhook URL' }).fill('https://hooks.example.com/status');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Subscribed');
    expect(await page.locator('.secret').textContent()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await page.screenshot({ path: screenshotPath('status-subscribed-1280') });
    await context.close();
  });
});
