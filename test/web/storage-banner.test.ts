import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import { describeBrowser, LAPTOP, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { ChatClient } from '../helpers/chat-client.ts';
import { ADMIN_KEY, simModels } from '../helpers/gateway.ts';
import { pgAvailable, pgSchema } from '../helpers/replica.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * The chat UI during a PostgreSQL outage (docs/postgres-outage.md), in real Chromium: a message sent
 * while the database is cut is shown and answered, and the page says that saving is delayed; once the
 * database is back and the buffer drained, a reload shows the conversation whole and no banner.
 */
const pgUp = await pgAvailable();

describeBrowser('chat UI: saving delayed while PostgreSQL is unreachable', () => {
  let proxy: TcpProxy;
  let drop: () => Promise<void>;
  let dataDir: string;
  let gw: Gateway;
  let browser: Browser;
  let page: Page;
  let convId: string;

  beforeAll(async () => {
    if (!pgUp) return;
    const schema = await pgSchema(`hf_banner_${randomBytes(5).toString('hex')}`);
    drop = schema.drop;
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    dataDir = mkdtempSync(join(tmpdir(), 'holdfast-banner-'));
    gw = await startGateway(
      buildConfig(
        {
          server: { host: '127.0.0.1', port: 0 },
          auth: { admin_key: ADMIN_KEY },
          store: {
            url: schema.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
            data_dir: dataDir,
            outage_buffer: { timeout_ms: 1_000 },
          },
          log: { level: 'silent' },
          models: simModels({ answer_tokens: 16 }),
        },
        {},
      ),
      { env: {} },
    );
    const user = await ChatClient.signUp(gw.url, 'Uma');
    convId = (await user.call('POST', '/api/conversations', { model: 'sim-openai' })).body.conversation.id;
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: LAPTOP });
    const [name, value] = user.cookie.split('=') as [string, string];
    await context.addCookies([{ name, value, url: gw.url }]);
    page = await context.newPage();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    proxy?.restore();
    await gw?.close(1_000);
    await proxy?.close();
    await drop?.();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const lastAssistant = () => page.locator('[data-testid="message"][data-role="assistant"]').last();
  const userMessages = () => page.locator('[data-testid="message"][data-role="user"]');

  it.skipIf(!pgUp)(
    'says saving is delayed, keeps chatting, and shows everything once it is saved',
    async () => {
      await page.goto(`${gw.url}/#/c/${encodeURIComponent(convId)}`);
      await page.locator('#chat-title').waitFor();
      expect(await page.getByTestId('storage-banner').count()).toBe(0);

      proxy.cut();
      await page.getByLabel('Message', { exact: true }).fill('Written while the database is away');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      const banner = page.getByTestId('storage-banner');
      await banner.waitFor({ timeout: 10_000 });
      expect(await banner.innerText()).toMatch(/Saving is delayed/);
      await page.screenshot({ path: screenshotPath('storage-banner') });
      await expect
        .poll(() => lastAssistant().getAttribute('data-status'), { timeout: 20_000 })
        .toBe('complete');
      const answered = (await lastAssistant().locator('[data-testid="message-content"]').innerText()).trim();
      expect(answered.length).toBeGreaterThan(10);

      proxy.restore();
      await gw.storeOutage!.buffer.drained();
      await page.reload();
      await page.locator('#chat-title').waitFor();
      await expect.poll(() => userMessages().count()).toBe(1);
      expect(await userMessages().last().innerText()).toContain('Written while the database is away');
      expect(await page.getByTestId('storage-banner').count()).toBe(0);
    },
    60_000,
  );
});
