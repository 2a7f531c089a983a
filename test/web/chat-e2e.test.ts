import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerWebRoutes } from '../../src/web/routes.ts';
import {
  describeBrowser,
  LAPTOP,
  launchBrowser,
  screenshotPath,
  signUpAndStartChat,
} from '../helpers/browser.ts';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

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

/** Two deployments of one model: a cut on the primary is finished by the backup (gateway continuation). */
const PAIR = {
  name: 'pair',
  deployments: [
    {
      id: 'pair-primary',
      provider: 'simulator' as const,
      model: 'p',
      tier: 0,
      simulator: { dialect: 'openai' as const, ttft_ms: 50, tokens_per_sec: 40, answer_tokens: 80 },
    },
    {
      id: 'pair-backup',
      provider: 'simulator' as const,
      model: 'p',
      tier: 1,
      simulator: { dialect: 'anthropic' as const, ttft_ms: 50, tokens_per_sec: 40, answer_tokens: 80 },
    },
  ],
};

/** Another two-deployment model, only for the degraded banner (so its ejection disturbs no other test). */
const FLAKY = {
  name: 'flaky',
  deployments: [
    {
      id: 'flaky-a',
      provider: 'simulator' as const,
      model: 'f',
      tier: 0,
      simulator: { dialect: 'openai' as const, ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 20 },
    },
    {
      id: 'flaky-b',
      provider: 'simulator' as const,
      model: 'f',
      tier: 1,
      simulator: { dialect: 'openai' as const, ttft_ms: 0, tokens_per_sec: 0, answer_tokens: 20 },
    },
  ],
};

const ADMIN = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
/** Ends every chaos fault. No content-type: an empty body declared as JSON is refused (400). */
async function clearFaults(gatewayUrl: string): Promise<void> {
  const r = await fetch(`${gatewayUrl}/admin/chaos`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  if (r.status !== 200) throw new Error(`clearing chaos faults: ${r.status} ${await r.text()}`);
}

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
    t = await startTestGateway({
      store: { data_dir: 'memory://' },
      models: [SLOW, PAIR, FLAKY],
      // Two failures in a row eject a deployment, so the banner test needs only two requests: few enough
      // that the status system still judges the model by its deployments' health (fewer than its
      // min_requests in the window), not by a traffic that failover rescues entirely.
      resilience: { outlier: { consecutive_failures: 2 } },
    });
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

  const lastAssistantOf = (p: Page) => p.locator('[data-testid="message"][data-role="assistant"]').last();
  const lastAssistant = () => lastAssistantOf(page);
  const lastAssistantId = () => lastAssistant().getAttribute('data-id');
  const waitForStatus = (status: string, p: Page = page) =>
    expect.poll(() => lastAssistantOf(p).getAttribute('data-status'), { timeout: 20_000 }).toBe(status);
  type StoredMessage = { id: string; content: string; status: string; meta: Record<string, unknown> };
  /** The server's record of a message, read through the page's own session. */
  const serverMessage = async (id: string, p: Page = page) => {
    const convId = decodeURIComponent(new URL(p.url()).hash.replace('#/c/', ''));
    type Conv = { messages: StoredMessage[] };
    const d = (await p.evaluate(
      (path) => fetch(path).then((r) => r.json()),
      `/api/conversations/${encodeURIComponent(convId)}`,
    )) as Conv;
    return d.messages.find((m) => m.id === id)!;
  };
  const shownOf = async (p: Page) =>
    (await lastAssistantOf(p).locator('[data-testid="message-content"]').innerText()).trim();
  const shown = () => shownOf(page);
  /** Rendered Markdown collapses whitespace; compare words. */
  const words = (s: string) => s.split(/\s+/).filter(Boolean).join(' ');
  /** The simulator's answers are prose of many sentences: an empty or one-word "answer" is a bug. */
  const expectSubstantial = (content: string) => {
    expect(content.length).toBeGreaterThan(100);
    expect(words(content).split(' ').length).toBeGreaterThan(20);
  };
  const send = async (text: string, p: Page = page) => {
    const before = await lastAssistantOf(p).getAttribute('data-id');
    await p.getByLabel('Message', { exact: true }).fill(text);
    await p.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(() => lastAssistantOf(p).getAttribute('data-id')).not.toBe(before);
  };
  /** From the characters screen: a new chat with the first character, on `model` (the default if absent). */
  const newChat = async (model?: string) => {
    await page.goto(`${url}/#/`);
    await page.getByRole('heading', { name: 'Characters', exact: true }).waitFor();
    await page
      .getByRole('button', { name: /^Chat with / })
      .first()
      .click();
    const dialog = page.getByRole('dialog');
    if (model) await dialog.getByLabel('Model').selectOption(model);
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await page.locator('#chat-title').waitFor();
    await expect.poll(() => page.url()).toContain('#/c/');
  };
  /** The first answer of the first test, to compare with the same question asked again elsewhere. */
  let firstAnswer = '';

  it('signs up, picks a character and streams an answer', async () => {
    await signUpAndStartChat(page, url);
    const greeting = await lastAssistantId();

    await page.getByLabel('Message', { exact: true }).fill('Hello there');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(lastAssistantId).not.toBe(greeting);
    await waitForStatus('streaming');
    await waitForStatus('complete');
    const id = (await lastAssistantId())!;
    const stored = await serverMessage(id);
    expect(stored.status).toBe('complete');
    expectSubstantial(stored.content);
    expect(words(await shown())).toBe(words(stored.content));
    firstAnswer = stored.content;
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
    expectSubstantial(stored.content);
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

  it('opens a second tab mid-stream and both tabs end with the stored answer, nothing lost or repeated', async () => {
    // A new chat with the same character, asked the same first question: the simulator is deterministic,
    // so the answer must be, word for word, the one the first test got.
    await newChat();
    await send('Hello there');
    await expect.poll(async () => (await shown()).length, { timeout: 10_000 }).toBeGreaterThan(20);
    const id = (await lastAssistantId())!;

    const second = await page.context().newPage();
    second.on('pageerror', (e) => pageErrors.push(`second tab: ${e.message}`));
    second.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`second tab: ${m.text()}`);
    });
    try {
      await second.goto(page.url());
      await second.locator(`[data-testid="message"][data-id="${id}"]`).waitFor();
      // Watch the second tab while it catches up and follows the live stream.
      const samples: { status: string | null; text: string }[] = [];
      for (let i = 0; i < 200; i++) {
        const status = await lastAssistantOf(second).getAttribute('data-status');
        samples.push({ status, text: await shownOf(second) });
        if (status === 'complete') break;
        await second.waitForTimeout(50);
      }
      expect(samples.some((s) => s.status === 'streaming')).toBe(true); // it really joined mid-stream
      await waitForStatus('complete', second);
      await waitForStatus('complete');
      await second.screenshot({ path: screenshotPath('e2e-second-tab') });

      const stored = await serverMessage(id, second);
      expect(stored.status).toBe('complete');
      expectSubstantial(stored.content);
      expect(words(stored.content)).toBe(words(firstAnswer));
      expect(words(await shownOf(second))).toBe(words(stored.content));
      expect(words(await shown())).toBe(words(stored.content));
      // Every intermediate state of the second tab was a prefix of the final answer: text only grew,
      // never repeated or skipped a piece.
      const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
      const final = flat(stored.content);
      let longest = 0;
      for (const s of samples) {
        expect(final.startsWith(flat(s.text)), `second tab showed "${s.text}"`).toBe(true);
        expect(flat(s.text).length).toBeGreaterThanOrEqual(longest);
        longest = flat(s.text).length;
      }
    } finally {
      await second.close();
    }
  });

  it('finishes an answer whose deployment the chaos API cut mid-stream, and says a backup completed it', async () => {
    await newChat('pair');
    const inject = await fetch(`${t.url}/admin/chaos/pair-primary`, {
      method: 'POST',
      headers: ADMIN,
      body: JSON.stringify({ kind: 'cut', after_tokens: 5, duration_s: 30 }),
    });
    expect(inject.status).toBe(201);
    let id: string;
    try {
      await send('Keep going no matter what.');
      await waitForStatus('complete');
      id = (await lastAssistantId())!;
      const hits = (await (await fetch(`${t.url}/admin/chaos/pair-primary`, { headers: ADMIN })).json()) as {
        faults: { hits: number }[];
      };
      expect(hits.faults[0]?.hits).toBeGreaterThan(0);
    } finally {
      await clearFaults(t.url);
    }
    const note = lastAssistant().getByTestId('failover-note');
    await note.waitFor();
    // The backup is another deployment of the chat's own model: the note must not name "pair" as if it
    // were some other model.
    expect((await note.innerText()).trim()).toBe('Completed by a backup model.');
    const stored = await serverMessage(id);
    expect(stored.status).toBe('complete');
    expect(stored.meta.failedOver).toBe(true);
    expect(stored.meta.deployment).toBe('pair-backup');
    expectSubstantial(stored.content);
    expect(words(await shown())).toBe(words(stored.content));
    await page.screenshot({ path: screenshotPath('e2e-failover') });

    // The simulator's uninterrupted answer to the same history: a regenerated sibling, with no fault now.
    // The answer spliced across two deployments must be exactly it.
    await lastAssistant().getByRole('button', { name: 'Regenerate' }).click();
    await expect.poll(lastAssistantId).not.toBe(id);
    await waitForStatus('complete');
    const again = await serverMessage((await lastAssistantId())!);
    expect(again.status).toBe('complete');
    expect(again.meta.failedOver).toBeUndefined();
    expect(again.meta.deployment).toBe('pair-primary');
    expect(await lastAssistant().getByTestId('failover-note').count()).toBe(0);
    expect(again.content).toBe(stored.content);
  });

  it("shows the degraded banner when a fault is injected on one of a model's deployments", async () => {
    await newChat('flaky');
    const banner = page.getByTestId('status-banner');
    expect(await banner.count()).toBe(0);
    const inject = await fetch(`${t.url}/admin/chaos/flaky-a`, {
      method: 'POST',
      headers: ADMIN,
      body: JSON.stringify({ kind: 'error', status: 503, duration_s: 60 }),
    });
    expect(inject.status).toBe(201);
    const drive = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await fetch(`${t.url}/v1/chat/completions`, {
          method: 'POST',
          headers: ADMIN,
          body: JSON.stringify({ model: 'flaky', messages: [{ role: 'user', content: `probe ${i}` }] }),
        });
        await r.arrayBuffer();
      }
    };
    const apiStatus = () =>
      page.evaluate(() => fetch('/api/status').then((r) => r.text())).catch((e) => String(e));
    try {
      // Two failures in a row on flaky-a: the gateway ejects it (flaky-b answers both requests). Only a
      // couple of requests on purpose: with many, every one of them rescued by failover, the status system
      // would rightly judge the model by that traffic, which did not fail.
      await drive(2);
      // The page polls /api/status every 10 s, and whatever feeds that route may lag a little: reload
      // (which polls at once) until the banner shows, for up to ~30 s.
      const deadline = Date.now() + 30_000;
      while (!(await banner.isVisible())) {
        if (Date.now() > deadline)
          throw new Error(`the degraded banner never appeared; /api/status says ${await apiStatus()}`);
        await page.reload();
        await page.locator('#chat-title').waitFor();
        await banner.waitFor({ timeout: 2_000 }).catch(() => {});
      }
      await expect.poll(() => banner.innerText()).toMatch(/flaky is (degraded|down)/);
      await page.screenshot({ path: screenshotPath('e2e-degraded-banner') });
    } finally {
      await clearFaults(t.url);
    }
  }, 60_000);

  it('has no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
