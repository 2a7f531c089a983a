import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { describe } from 'vitest';

/**
 * Real-Chromium tests, driven by playwright-core against the Debian `chromium` package (never a downloaded
 * browser). Install it with `apt-get install -y chromium`. When the binary is absent the suites are skipped,
 * loudly, instead of failing.
 */
export const CHROMIUM_PATH = process.env.HOLDFAST_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM_PATH);

export const SCREENSHOT_DIR = join(process.cwd(), 'test-results');

/** `describe`, or a skipped one (with a message saying why) when Chromium is not installed. */
export function describeBrowser(name: string, fn: () => void): void {
  if (!hasChromium) {
    console.warn(
      `[browser tests] skipping "${name}": no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`,
    );
  }
  describe.skipIf(!hasChromium)(name, fn);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return join(SCREENSHOT_DIR, `${name}.png`);
}

export const PHONE = { width: 390, height: 844 } as const;
export const LAPTOP = { width: 1280, height: 800 } as const;

/** The chat UI's first steps as a new user: create an account, open the first character, start a chat. */
export async function signUpAndStartChat(
  page: Page,
  url: string,
  user = { name: 'Robin', email: 'robin@example.test', password: 'correct horse battery' },
): Promise<void> {
  await page.goto(url);
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByLabel('Name').fill(user.name);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Characters', exact: true }).waitFor();
  await page
    .getByRole('button', { name: /^Chat with / })
    .first()
    .click();
  await page.getByRole('dialog').getByRole('button', { name: 'Start chat' }).click();
  await page.locator('#chat-title').waitFor();
}
