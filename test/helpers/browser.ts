import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
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
