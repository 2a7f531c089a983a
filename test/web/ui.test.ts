import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBrowser, LAPTOP, launchBrowser, PHONE, screenshotPath } from '../helpers/browser.ts';
import { FakeChatApi } from './fake-chat-api.ts';

/**
 * The chat UI in a real Chromium against a fake of docs/chat-api.md (test/web/fake-chat-api.ts). One browser
 * for the file; the laptop page walks one user through the app, step by step, so each test builds on the
 * previous one (vitest runs them in order).
 */

describeBrowser('chat web UI (fake API)', () => {
  let fake: FakeChatApi;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    fake = new FakeChatApi();
    url = await fake.start();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: LAPTOP });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // A CSP violation or a failed module would show up here; the 401 (/api/auth/me before sign-in) and the
      // 503 (the send that fails on purpose) are expected.
      if (m.type() === 'error' && !/status of (401|503)/.test(m.text())) pageErrors.push(m.text());
    });
    page.on('dialog', async (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      await d.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
    await fake?.close();
  });

  const messages = () => page.locator('[data-testid="message"]');
  const lastAssistant = () => page.locator('[data-testid="message"][data-role="assistant"]').last();
  const lastAssistantId = () => lastAssistant().getAttribute('data-id');
  /** Waits until the last assistant message on screen is not `previousId` (a new answer) and is complete. */
  async function waitForNewAnswer(previousId: string | null) {
    await expect.poll(lastAssistantId).not.toBe(previousId);
    await waitForStatus('complete');
  }
  const waitForStatus = (status: string) =>
    expect.poll(() => lastAssistant().getAttribute('data-status'), { timeout: 15_000 }).toBe(status);

  async function send(text: string) {
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByLabel('Message', { exact: true }).press('Enter');
  }

  it('serves the page with a strict CSP, the modules and the vendor allowlist', async () => {
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("object-src 'none'");
    for (const path of [
      '/app/app.js',
      '/app/views/chat.js',
      '/vendor/preact.js',
      '/vendor/highlight/core.js',
    ]) {
      const r = await fetch(`${url}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type'), path).toBe('text/javascript; charset=utf-8');
      expect(r.headers.get('cache-control'), path).toBeTruthy();
      const again = await fetch(`${url}${path}`, { headers: { 'if-none-match': r.headers.get('etag')! } });
      expect(again.status, path).toBe(304);
    }
    expect((await fetch(`${url}/app/styles.css`)).headers.get('content-type')).toContain('text/css');
    for (const path of ['/app/routes.ts', '/app/nope.js', '/vendor/nope.js', '/vendor/preact/package.json']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
  });

  it('signs up and lists the characters', async () => {
    await page.goto(url);
    await page.getByRole('heading', { name: 'Holdfast' }).waitFor();
    await page.screenshot({ path: screenshotPath('laptop-sign-in') });
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Name').fill('Ash');
    await page.getByLabel('Email').fill('ash@example.com');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Characters', exact: true }).waitFor();
    await expect.poll(() => page.locator('[data-testid="character-card"]').count()).toBe(3);
    await page.screenshot({ path: screenshotPath('laptop-characters') });
  });

  it('picks a character and starts a chat with its greeting', async () => {
    await page.getByRole('button', { name: 'Chat with Maren Voss' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start chat' }).click();
    await page.locator('#chat-title').waitFor();
    await expect.poll(() => messages().count()).toBe(1);
    expect(await lastAssistant().getAttribute('data-status')).toBe('complete');
    expect(
      (await lastAssistant().locator('[data-testid="message-content"]').innerText()).length,
    ).toBeGreaterThan(10);
  });

  it('sends with Enter, streams the answer and renders Markdown with highlighting, inert', async () => {
    const answer = [
      'Here is **bold** and a [safe link](https://example.com/docs).',
      '',
      '<img src=x onerror="window.__pwned=1">',
      '',
      '[click me](javascript:window.__pwned=2)',
      '',
      '<a href="javascript:window.__pwned=3">raw link</a> <span onclick="window.__pwned=4">span</span>',
      '',
      '<script>window.__pwned=5</script>',
      '',
      '```js',
      'const answer = 42;',
      '```',
    ].join('\n');
    fake.script({ text: answer, chunkSize: 4, chunkMs: 20 });
    const greeting = await lastAssistantId();
    await send('Show me what you can do');
    // The answer arrives in pieces: catch it mid-stream.
    await expect.poll(lastAssistantId).not.toBe(greeting);
    await waitForStatus('streaming');
    const partial = await lastAssistant().locator('[data-testid="message-content"]').innerText();
    await waitForStatus('complete');
    const content = lastAssistant().locator('[data-testid="message-content"]');
    expect(partial.length).toBeLessThan((await content.innerText()).length);
    expect(await content.locator('strong').innerText()).toBe('bold');
    expect(await content.locator('code .hljs-keyword').first().innerText()).toBe('const');
    expect(await content.locator('a[href="https://example.com/docs"]').getAttribute('rel')).toContain(
      'noopener',
    );
    // Nothing executable survived.
    expect(await content.locator('[onerror], [onclick], script').count()).toBe(0);
    expect(await content.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await content.innerText()).toContain('click me');
    // Raw HTML is shown as the text it is.
    expect(await content.innerText()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');
    expect(dialogs).toEqual([]);
    // The composer was emptied, and the draft with it.
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('');
    expect(fake.csrfFailures).toBe(0);
    await page.screenshot({ path: screenshotPath('laptop-chat') });
  });

  it('regenerates into a sibling and switches between versions', async () => {
    fake.script({ text: 'Second take on it.' });
    const first = await lastAssistantId();
    await lastAssistant().getByRole('button', { name: 'Regenerate' }).click();
    await waitForNewAnswer(first);
    await expect.poll(() => lastAssistant().locator('[data-testid="sibling-count"]').innerText()).toBe('2/2');
    expect(await lastAssistant().innerText()).toContain('Second take on it.');
    await lastAssistant().getByRole('button', { name: 'Previous version' }).click();
    await expect.poll(() => lastAssistant().locator('[data-testid="sibling-count"]').innerText()).toBe('1/2');
    expect(await lastAssistant().innerText()).toContain('Here is bold');
    // The branch on screen is saved on the server.
    const conv = [...fake.conversations.values()][0]!;
    await expect.poll(() => fake.messages.get(conv.currentLeafId!)?.content).toContain('Here is **bold**');
    await lastAssistant().getByRole('button', { name: 'Next version' }).click();
    await expect.poll(() => lastAssistant().locator('[data-testid="sibling-count"]').innerText()).toBe('2/2');
  });

  it('edits a user message into a new branch', async () => {
    const user = page.locator('[data-testid="message"][data-role="user"]').last();
    await user.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Edit your message').fill('Show me something else');
    fake.script({ text: 'Something else, then.' });
    const before = await lastAssistantId();
    await page.getByRole('button', { name: 'Save & send' }).click();
    await waitForNewAnswer(before);
    await expect.poll(() => user.locator('[data-testid="sibling-count"]').innerText()).toBe('2/2');
    expect(await user.innerText()).toContain('Show me something else');
    expect(await lastAssistant().innerText()).toContain('Something else, then.');
  });

  it('keeps the draft across a reload and retries a failed send with the same key, once', async () => {
    await page.getByLabel('Message', { exact: true }).fill('A draft I do not want to lose');
    await page.reload();
    await page.locator('#chat-title').waitFor();
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe(
      'A draft I do not want to lose',
    );

    fake.failNextSends = 1; // stored, but the answer is lost: the client sees a 503
    const before = fake.sendAttempts.length;
    const previous = await lastAssistantId();
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Your message is kept' }).waitFor();
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe(
      'A draft I do not want to lose',
    );
    await page.getByRole('button', { name: 'Retry' }).click();
    await waitForNewAnswer(previous);
    const attempts = fake.sendAttempts.slice(before);
    expect(attempts.map((a) => a.outcome)).toEqual(['failed', 'replayed']);
    expect(attempts[0]!.key).toBe(attempts[1]!.key);
    expect(
      await page.locator('[data-role="user"]').filter({ hasText: 'A draft I do not want' }).count(),
    ).toBe(1);
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('');
  });

  it('re-attaches to a stream after a reload mid-answer, with no lost or repeated text', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    fake.script({ text: long, chunkSize: 5, chunkMs: 25 });
    const before = await lastAssistantId();
    await send('Count for me');
    await expect.poll(lastAssistantId).not.toBe(before);
    await expect.poll(async () => (await lastAssistant().innerText()).includes('word3')).toBe(true);
    expect(await lastAssistant().getAttribute('data-status')).toBe('streaming');
    await page.reload();
    await page.locator('#chat-title').waitFor();
    await waitForStatus('complete');
    expect((await lastAssistant().locator('[data-testid="message-content"]').innerText()).trim()).toBe(long);
  });

  it('stops an answer and continues it', async () => {
    fake.script({
      text: 'A slow answer that goes on and on and on and on and on.',
      chunkSize: 2,
      chunkMs: 40,
    });
    const before = await lastAssistantId();
    await send('Take your time');
    await expect.poll(lastAssistantId).not.toBe(before);
    await waitForStatus('streaming');
    await page.getByRole('button', { name: 'Stop' }).first().click();
    await waitForStatus('incomplete');
    const partial = (await lastAssistant().locator('[data-testid="message-content"]').innerText()).trim();
    expect(partial.length).toBeGreaterThan(0);
    fake.script({ text: ' And the rest.' });
    await lastAssistant().getByRole('button', { name: 'Continue' }).click();
    await waitForStatus('complete');
    const full = (await lastAssistant().locator('[data-testid="message-content"]').innerText()).trim();
    expect(full.startsWith(partial)).toBe(true);
    expect(full.endsWith('And the rest.')).toBe(true);
    expect(full.split('And the rest.').length).toBe(2);
  });

  it('shows the waiting room, the retry countdown and the backup-model notice', async () => {
    fake.script({
      text: 'Finally here.',
      queue: { position: 3, etaMs: 42_000, forMs: 700 },
      retryAfterMs: 2_500,
      doneMeta: { failedOver: true, model: 'backup-model' },
    });
    const before = await lastAssistantId();
    await send('Are you busy?');
    const waiting = page.locator('[data-testid="waiting-room"]');
    await waiting.waitFor();
    expect(await waiting.innerText()).toMatch(/number 3 in line, about 42 s/);
    await page.screenshot({ path: screenshotPath('laptop-waiting-room') });
    const countdown = page.locator('[data-testid="retry-countdown"]');
    await countdown.waitFor();
    expect(await countdown.innerText()).toMatch(/Retrying automatically in \d s/);
    await waitForNewAnswer(before);
    expect(await page.locator('[data-testid="failover-note"]').innerText()).toContain(
      'Completed by a backup model',
    );
  });

  it('shows the banner when /api/status says the model is degraded', async () => {
    expect(await page.locator('[data-testid="status-banner"]').count()).toBe(0);
    fake.status = [
      {
        name: 'sim-openai',
        status: 'degraded',
        message: 'Answers are slower than usual.',
        queue: { queued: 12, estimatedWaitMs: 30_000 },
      },
    ];
    await page.reload(); // the banner polls every 10 s; a reload asks at once
    const banner = page.locator('[data-testid="status-banner"]');
    await banner.waitFor();
    expect(await banner.innerText()).toContain('sim-openai is degraded');
    await page.screenshot({ path: screenshotPath('laptop-chat-degraded') });
    fake.status = [{ name: 'sim-openai', status: 'operational' }];
  });

  it('posts a problem report from the dialog', async () => {
    await page.getByRole('button', { name: 'Report a problem' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('What went wrong?').selectOption('slow');
    await dialog.getByLabel('Details').fill('Answers take ages tonight.');
    await page.screenshot({ path: screenshotPath('laptop-report-dialog') });
    await dialog.getByRole('button', { name: 'Send report' }).click();
    await page.locator('[data-testid="report-done"]').waitFor();
    const conv = [...fake.conversations.values()][0]!;
    expect(fake.reports).toEqual([
      { category: 'slow', text: 'Answers take ages tonight.', model: 'sim-openai', conversationId: conv.id },
    ]);
    await dialog.getByRole('button', { name: 'Close' }).first().click();
  });

  it('creates a character with every card field', async () => {
    await page.goto(`${url}/#/characters/new`);
    await page.getByLabel('Name').fill('Ottoline');
    await page.getByLabel('Description').fill('A lighthouse keeper.');
    await page.getByLabel('Personality').fill('Dry, kind.');
    await page.getByLabel('Scenario').fill('A storm.');
    await page.getByLabel('Greeting').fill('Shut the door, {{user}}.');
    await page.getByRole('button', { name: 'Add a greeting' }).click();
    await page.getByLabel('Alternate greeting 1', { exact: true }).fill('You are late.');
    await page.getByText('Advanced: example dialogue').click();
    await page.getByLabel('Example dialogue').fill('<START>\n{{user}}: Hi\n{{char}}: Hm.');
    await page.getByLabel('System prompt').fill('{{original}} Stay in character.');
    await page.getByLabel('Post-history instructions').fill('Be brief.');
    await page.screenshot({ path: screenshotPath('laptop-character-form-bottom') });
    await page.locator('.page').evaluate((el) => el.scrollTo(0, 0));
    await page.screenshot({ path: screenshotPath('laptop-character-form') });
    await page.getByRole('button', { name: 'Create character' }).click();
    await page.getByRole('heading', { name: 'Edit Ottoline' }).waitFor();
    const mine = [...fake.characters.values()].find((c) => c.owner !== null)!;
    expect(mine.character).toMatchObject({
      name: 'Ottoline',
      description: 'A lighthouse keeper.',
      personality: 'Dry, kind.',
      scenario: 'A storm.',
      greeting: 'Shut the door, {{user}}.',
      alternateGreetings: ['You are late.'],
      exampleDialogue: '<START>\n{{user}}: Hi\n{{char}}: Hm.',
      systemPrompt: '{{original}} Stay in character.',
      postHistoryInstructions: 'Be brief.',
      extensions: {},
    });
  });

  it('has no script errors or CSP violations', () => {
    expect(pageErrors).toEqual([]);
  });

  it('lays out on a phone', async () => {
    const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    try {
      await p.goto(url);
      await p.getByRole('heading', { name: 'Holdfast' }).waitFor();
      await p.screenshot({ path: screenshotPath('phone-sign-in') });
      await p.getByLabel('Email').fill('ash@example.com');
      await p.getByLabel('Password').fill('correct horse');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Characters', exact: true }).waitFor();
      await p.screenshot({ path: screenshotPath('phone-characters') });
      // No horizontal scrolling on a phone.
      expect(await p.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
        PHONE.width,
      );
      await p.getByRole('button', { name: 'Menu' }).click();
      await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chats' }).waitFor();
      // Let the drawer finish sliding in before the picture.
      await expect
        .poll(() =>
          p
            .locator('#sidebar')
            .evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).transform),
        )
        .toBe('none');
      await p.screenshot({ path: screenshotPath('phone-menu') });
      const conv = [...fake.conversations.values()][0]!;
      await p.goto(`${url}/#/c/${conv.id}`);
      await p.locator('#chat-title').waitFor();
      await p.waitForSelector('[data-testid="message"]');
      await p.screenshot({ path: screenshotPath('phone-chat') });
      expect(await p.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
        PHONE.width,
      );
      const composer = await p.locator('.composer').boundingBox();
      expect(composer!.y + composer!.height).toBeLessThanOrEqual(PHONE.height + 1);
      await p.getByRole('button', { name: 'Report a problem' }).click();
      await p.getByRole('dialog').waitFor();
      await p.screenshot({ path: screenshotPath('phone-report-dialog') });
    } finally {
      await phone.close();
    }
  });
});
