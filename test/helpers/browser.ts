import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { packageRoot } from '../../config/load.js';
import { chromiumPath } from '../../client/provision/chromium.js';

/** Screenshots of browser tests (git-ignored). */
export const ARTIFACTS_DIR = path.join(packageRoot, 'test-artifacts');

/** Headless Chromium from `npm run provision` (Debian's package, or CHROMIUM_PATH); no browser is downloaded. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath({ install: false }),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}

/**
 * A page that can reach `origin` only: everything else (e.g. the Temporal UI's news feed) is aborted, so a test
 * never waits on, or sends anything to, the outside world.
 */
export async function localPage(browser: Browser, origin: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const allowed = new URL(origin).origin;
  await context.route(
    (url) => url.origin !== allowed,
    (route) => route.abort('blockedbyclient'),
  );
  return context.newPage();
}

/** Saves a full-page screenshot to test-artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
