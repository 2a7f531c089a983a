import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeBrowser, LAPTOP, launchBrowser, PHONE, screenshotPath } from '../helpers/browser.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DRILL_MODELS, DRILL_RESILIENCE } from './helpers.ts';

/**
 * The admin console in a real Chromium against a real gateway: sign in, watch deployments, run the
 * "primary down" drill while traffic flows through the OpenAI SDK, stop it, create and revoke a key.
 * Screenshots go to test-results/.
 */
describeBrowser('admin console in Chromium', () => {
  let t: TestGateway;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    t = await startTestGateway({
      store: { data_dir: 'memory://' },
      models: DRILL_MODELS,
      resilience: DRILL_RESILIENCE,
    });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('response', (r) => {
      if (r.status() >= 400 && r.status() !== 401) pageErrors.push(`${r.status()} ${r.url()}`);
    });
    page.on('console', (m) => {
      // The first visit asks for a session it does not have yet: that 401 is expected.
      // (Failed loads are recorded with their URL above.)
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail')
      await page.screenshot({ path: screenshotPath('admin-failed'), fullPage: true }).catch(() => {});
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const sdk = (apiKey: string) => new OpenAI({ baseURL: `${t.url}/v1`, apiKey, maxRetries: 0 });
  const ask = (apiKey: string) =>
    sdk(apiKey).chat.completions.create({ model: 'drill-sim', messages: [{ role: 'user', content: 'hi' }] });
  const row = (id: string) => page.locator(`tr[data-deployment="${id}"]`);
  const go = async (hash: string, heading: string) => {
    await page.goto(`${t.url}/admin#/${hash}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };

  it('signs in with the admin key and shows the deployments with their health', async () => {
    await page.goto(`${t.url}/admin`);
    await page.getByLabel('Admin key').fill('not the key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not the admin key' }).waitFor();
    await page.getByLabel('Admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Deployments' }).waitFor();
    await expect.poll(() => row('drill-primary').getAttribute('data-health')).toBe('healthy');
    expect(await row('drill-backup').getAttribute('data-health')).toBe('healthy');
    await expect.poll(() => row('drill-primary').innerText()).toMatch(/simulator · east · tier 0/);
    await page.screenshot({ path: screenshotPath('admin-deployments'), fullPage: true });
  });

  it('runs the primary-down drill: traffic fails over, the primary is ejected, the report shows it', async () => {
    await go('drills', 'Chaos drills');
    await page.getByRole('radio', { name: /Primary provider down for 5 minutes/ }).check();
    await page.getByLabel('Model', { exact: true }).selectOption('drill-sim');
    await page.getByRole('button', { name: 'Start drill' }).click();
    const drill = page.locator('section.drill[data-state="running"]');
    await drill.waitFor();
    await drill.getByText(/primary refuses connections: refuse on drill-primary/).waitFor();
    // The drill's fault is a chaos fault like any other, listed (and endable) with the live faults.
    await page.locator('#faults tr[data-fault]', { hasText: 'drill-primary' }).waitFor();

    // Traffic through the official SDK: every request is answered, by the backup.
    for (let i = 0; i < 6; i++) {
      const r = await ask(ADMIN_KEY);
      expect(r.choices[0]?.message.content).toBeTruthy();
    }

    await drill.locator('li[data-flag="FAILED_OVER"]').waitFor();
    await drill.getByText('drill-primary: healthy → ejected.').waitFor();
    const stat = (label: string) =>
      drill.locator('.stat', { has: page.locator('.stat-label', { hasText: new RegExp(`^${label}$`) }) });
    await expect.poll(() => stat('requests').locator('.stat-value').innerText()).toBe('6');
    expect(await stat('failed').locator('.stat-value').innerText()).toBe('0');
    expect(Number(await stat('failovers').locator('.stat-value').innerText())).toBeGreaterThanOrEqual(2);
    expect(await stat('ejections').locator('.stat-value').innerText()).toBe('1');
    await page.screenshot({ path: screenshotPath('admin-drill-running'), fullPage: true });

    await go('deployments', 'Deployments');
    await expect.poll(() => row('drill-primary').getAttribute('data-health')).toBe('ejected');
    const why = await row('drill-primary').locator('.why').innerText();
    expect(why).toMatch(/ejected until/);
    expect(why).toMatch(/connection failed/);
    expect(why).toMatch(/chaos: refuse/);
    expect(await row('drill-backup').getAttribute('data-health')).toBe('healthy');
    await page.screenshot({ path: screenshotPath('admin-deployments-ejected'), fullPage: true });

    await go('drills', 'Chaos drills');
    await page.getByRole('button', { name: 'Stop drill' }).click();
    const stopped = page.locator('section.drill[data-state="stopped"]');
    await stopped.waitFor();
    await stopped.getByText('Drill stopped by an operator.').waitFor();
    expect(t.gw.chaos.list()).toEqual([]);
    await page.getByText('No faults. Every deployment is behaving as it really is.').waitFor();
    await page.screenshot({ path: screenshotPath('admin-drill-stopped'), fullPage: true });
  });

  it('creates a key (secret shown once), sees it listed, and revokes it', async () => {
    await go('keys', 'Keys');
    await page.getByLabel('Name').fill('e2e key');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.locator('#new-secret').innerText()).trim();
    expect(secret).toMatch(/^hf-/);
    const keyRow = page.locator('tr[data-name="e2e key"]');
    await keyRow.waitFor();
    expect(await keyRow.innerText()).toContain(secret.slice(0, 11));
    expect((await ask(secret)).choices[0]?.message.content).toBeTruthy();
    await page.screenshot({ path: screenshotPath('admin-keys-created'), fullPage: true });

    await page.getByRole('button', { name: 'I have stored it' }).click();
    await expect.poll(() => page.locator('#new-secret').count()).toBe(0);
    await keyRow.getByRole('button', { name: 'Revoke' }).click();
    await keyRow.getByRole('button', { name: 'Confirm revoke' }).click();
    await expect.poll(() => keyRow.getAttribute('class')).toBe('revoked');
    await keyRow.getByText(/^revoked /).waitFor();
    await expect(ask(secret)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await page.screenshot({ path: screenshotPath('admin-keys-revoked'), fullPage: true });
  });

  it('shows the queue, the incident links and the users', async () => {
    await go('queue', 'Queue');
    await page.locator('#queue-table tr[data-model="drill-sim"]').waitFor();
    await page.screenshot({ path: screenshotPath('admin-queue'), fullPage: true });

    await go('incidents', 'Incidents and maintenance');
    await page.getByRole('link', { name: 'Open the incident pages' }).click();
    // The console's sign-in opened the status admin pages too: no second sign-in.
    await page.waitForURL(`${t.url}/status/admin`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await go('incidents', 'Incidents and maintenance');
    await page.screenshot({ path: screenshotPath('admin-incidents'), fullPage: true });

    await go('users', 'Users');
    await page.getByText(/No accounts yet/).waitFor();

    await page.setViewportSize(PHONE);
    await go('deployments', 'Deployments');
    await row('drill-primary').waitFor();
    await page.screenshot({ path: screenshotPath('admin-deployments-phone'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
