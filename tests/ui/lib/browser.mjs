// Debian's Chromium, driven by playwright-core (never a downloaded browser).

import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { ARTIFACTS } from './spoor.mjs';

export async function launchBrowser() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export async function newPage(browser, baseURL, { colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, colorScheme, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.UI_E2E_TIMEOUT_MS ?? 10_000));
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return { page, context, problems };
}

export async function screenshot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png` });
}
