import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerWebRoutes } from '../../src/web/routes.ts';
import { describeBrowser, LAPTOP, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The chat UI in a real Chromium against the real gateway (chat API, generation jobs, simulator models).
 *
 * If the gateway serves the UI itself (registerWebRoutes wired into the server), the browser talks to it
 * directly. Until then, a small same-origin front serves the UI and passes /api/* through to the gateway,
 * streams included, so the test exercises the real API either way.
 */

const SLOW = {
  name: 'slow-sim',
  deployments: [
    {
      id: 'slow-1',
      provider: 'simulator' as const,
      model: 's-1',
      // Long enough to reload and to stop in the middle of an answer.
      simulator: { dialect: 'openai' as const, ttft_ms: 50, tokens_per_sec: 40, answer_tokens: 120 },
    },
  ],
};

async function front(gatewayUrl: string): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  registerWebRoutes(app);
  const hop = new Set([
    'connection',
    'keep-alive',
    'transfer-encoding',
    'content-length',
    'host',
    'content-encoding',
  ]);
  app.all('/api/*', async (req, reply) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!hop.has(k) && typeof v === 'string') headers[k] = v;
    const abort = new AbortController();
    req.raw.on('close', () => abort.abort());
    const res = await fetch(`${gatewayUrl}${req.url}`, {
      method: req.method,
      headers,
      body: Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined,
      signal: abort.signal,
      redirect: 'manual',
    });
    reply.code(res.status);
    res.headers.forEach((v, k) => {
      if (!hop.has(k) && k !== 'set-cookie') reply.header(k, v);
    });
    const cookies = res.headers.getSetCookie();
    if (cookies.length) reply.header('set-cookie', cookies);
    if (!res.body) return reply.send();
    return reply.send(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream));
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

describeBrowser('chat web UI against the real gateway', () => {
  let t: TestGateway;
  let proxy: { app: FastifyInstance; url: string } | undefined;
  let url: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    t = await startTestGateway({ store: { data_dir: 'memory://' }, models: [SLOW] });
    const home = await fetch(`${t.url}/`);
    const servesUi = home.ok && (await home.text()).includes('type="importmap"');
    if (servesUi) url = t.url;
    else {
      proxy = await front(t.url);
      url = proxy.url;
    }
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.app.close();
    await t?.close();
  });

  const lastAssistant = () => page.locator('[data-testid="message"][data-role="assistant"]').last();
  const lastAssistantId = () => lastAssistant().getAttribute('data-id');
  const waitForStatus = (status: string) =>
    expect.poll(() => lastAssistant().getAttribute('data-status'), { timeout: 20_000 }).toBe(status);
  /** The server's record of a message, read through the page's own session. */
  const serverMessage = async (id: string) => {
    const convId = decodeURIComponent(new URL(page.url()).hash.replace('#/c/', ''));
    type Conv = { messages: { id: string; content: string; status: string }[] };
    const d = (await page.evaluate(
      (p) => fetch(p).then((r) => r.json()),
      `/api/conversations/${encodeURIComponent(convId)}`,
    )) as Conv;
    return d.messages.find((m) => m.id === id)!;
  };
  const shown = async () =>
    (await lastAssistant().locator('[data-testid="message-content"]').innerText()).trim();
  /** Rendered Markdown collapses whitespace; compare words. */
  const words = (s: string) => s.split(/\s+/).filter(Boolean).join(' ');

  it('signs up, picks a character and streams an answer', async () => {
    await page.goto(url);
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Name').fill('Robin');
    await page.getByLabel('Email').fill('robin@example.test');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Characters', exact: true }).waitFor();
    await page
      .getByRole('button', { name: /^Chat with / })
      .first()
      .click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start chat' }).click();
    await page.locator('#chat-title').waitFor();
    const greeting = await lastAssistantId();

    await page.getByLabel('Message', { exact: true }).fill('Hello there');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(lastAssistantId).not.toBe(greeting);
    await waitForStatus('streaming');
    await waitForStatus('complete');
    const id = (await lastAssistantId())!;
    const stored = await serverMessage(id);
    expect(stored.status).toBe('complete');
    expect(words(await shown())).toBe(words(stored.content));
    await page.screenshot({ path: screenshotPath('e2e-chat') });
  });

  it('reloads mid-stream and the answer continues with nothing lost or repeated', async () => {
    const before = await lastAssistantId();
    await page.getByLabel('Message', { exact: true }).fill('Tell me a long story');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(lastAssistantId).not.toBe(before);
    await expect.poll(async () => (await shown()).length, { timeout: 10_000 }).toBeGreaterThan(20);
    await page.reload();
    await page.locator('#chat-title').waitFor();
    await waitForStatus('complete');
    const stored = await serverMessage((await lastAssistantId())!);
    expect(words(await shown())).toBe(words(stored.content));
  });

  it('stops an answer and continues it', async () => {
    const before = await lastAssistantId();
    await page.getByLabel('Message', { exact: true }).fill('And another');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(lastAssistantId).not.toBe(before);
    await expect.poll(async () => (await shown()).length, { timeout: 10_000 }).toBeGreaterThan(10);
    await page.getByRole('button', { name: 'Stop' }).first().click();
    await waitForStatus('incomplete');
    const id = (await lastAssistantId())!;
    const partial = await serverMessage(id);
    expect(partial.status).toBe('incomplete');
    await expect.poll(async () => words(await shown())).toBe(words(partial.content));
    await lastAssistant().getByRole('button', { name: 'Continue' }).click();
    await waitForStatus('complete');
    const full = await serverMessage(id);
    expect(full.content.startsWith(partial.content)).toBe(true);
    expect(full.content.length).toBeGreaterThan(partial.content.length);
    expect(words(await shown())).toBe(words(full.content));
  });

  it('has no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
