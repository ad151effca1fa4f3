// End-to-end: the login flow. The real binary runs with `--query-auth` (basicauth from an htpasswd
// file, then bearertokenauth from a token file); in Debian's Chromium the UI loads, the API's 401
// brings up the login form, a wrong password is refused, the right one shows the data and every API
// call carries `Authorization`, and logging out asks again.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { Seeder, scenarioTraces } from './lib/seed.mjs';
import { api, startSpoor, waitFor } from './lib/spoor.mjs';

// bcrypt (cost 4) of "s3cret", as in tests/e2e/test_security_auth.py.
const ALICE_BCRYPT = '$2b$04$ILNuICTzA49dj7Ia5IWZIOJVhQHGXknlRgl0rwqs.vGr4cWnZpQgi';
const TOKEN = 't-ui-93ab';
const BASIC = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;

let dir;
let browser;

function config() {
  writeFileSync(join(dir, 'htpasswd'), `alice:${ALICE_BCRYPT}\n`);
  writeFileSync(join(dir, 'tokens'), `${TOKEN}\n`);
  const cfg = join(dir, 'auth.yaml');
  writeFileSync(
    cfg,
    `extensions:
  basicauth/ui:
    htpasswd:
      file: ${join(dir, 'htpasswd')}
  bearertokenauth/ui:
    filename: ${join(dir, 'tokens')}
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  spoor:
service:
  extensions: [basicauth/ui, bearertokenauth/ui]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
`,
  );
  return cfg;
}

async function started(authenticator, header) {
  const spoor = await startSpoor({ args: ['--config', config(), '--query-auth', authenticator] });
  const seeder = new Seeder(spoor.otlpHttpUrl);
  seeder.emit(scenarioTraces().browse, Date.now() - 60_000);
  await seeder.flush();
  await seeder.shutdown();
  await waitFor('services', async () => (await api(spoor, '/api/services', { Authorization: header }))?.includes('catalog'));
  return spoor;
}

/** Authorization headers of the API requests the page makes. */
function recordAuth(page) {
  const seen = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) seen.push(r.headers().authorization ?? null);
  });
  return seen;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'spoor-ui-login-'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('login with basic auth', () => {
  let spoor;
  before(async () => {
    spoor = await started('basicauth/ui', BASIC);
  });
  after(async () => spoor?.stop());

  it('asks for a login, refuses a wrong password, then shows the data and sends Authorization', async () => {
    const { page } = await newPage(browser, spoor.queryUrl);
    const seen = recordAuth(page);
    await page.goto('/search');
    const form = page.getByRole('form', { name: 'Log in' });
    await form.waitFor();
    await screenshot(page, '24-login-form');
    assert.equal(await page.getByLabel('User name').count(), 1, 'basic auth asks for a user name');

    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    // The API refuses it: the form comes back and nothing is kept.
    await form.waitFor();
    await page.waitForFunction(() => sessionStorage.getItem('spoor.auth') === null);

    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('s3cret');
    await page.getByRole('button', { name: 'Log in' }).click();
    await form.waitFor({ state: 'detached' });
    await page.getByText('alice', { exact: true }).waitFor();
    // The service list came from the API with the credential.
    await page.locator('select[name=service] option', { hasText: 'catalog' }).waitFor({ state: 'attached' });
    assert.ok(seen.includes(BASIC), 'an API call carried the basic credential');
    const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('spoor.auth')));
    assert.equal(stored.header, BASIC);

    // Other tabs of the UI work with it too.
    await page.getByRole('link', { name: 'Monitor' }).click();
    await page.waitForSelector('.monitor-row[data-key="catalog"]');
    assert.equal(seen.at(-1), BASIC);

    await page.getByRole('button', { name: 'Log out' }).click();
    await form.waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('spoor.auth')), null);
    await page.context().close();
  });
});

describe('login with a bearer token', () => {
  let spoor;
  before(async () => {
    spoor = await started('bearertokenauth/ui', `Bearer ${TOKEN}`);
  });
  after(async () => spoor?.stop());

  it('asks for a token and uses it', async () => {
    const { page } = await newPage(browser, spoor.queryUrl);
    const seen = recordAuth(page);
    await page.goto('/query?q=%7B%20%7D');
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    const token = page.getByLabel('Bearer token or JWT');
    assert.equal(await token.count(), 1, 'bearer auth asks for a token');
    await token.fill(TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForSelector('.query-result');
    assert.equal(seen.at(-1), `Bearer ${TOKEN}`);
    await screenshot(page, '25-logged-in-query');
    await page.context().close();
  });
});
