// End-to-end: the UI's OpenID Connect login against a real provider, Dex. Spoor runs with an `oidc`
// extension whose issuer is Dex (keys found by discovery) and `--query-auth oidc`. In Debian's
// Chromium the API's 401 brings up the login form with "Log in with <Dex>"; the browser goes to
// Dex's login page, the user logs in there, and Dex sends the browser back to `/oidc/callback`
// with a code, which the UI exchanges at Dex's token endpoint (public client with PKCE, from the
// browser). Every API call then carries the ID token as a bearer, and the data shows.
// Skipped when Dex is not built (scripts/peers/build-dex.sh needs Go and the module proxy).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { DEX_USER, dexBuilt, freePort, startDex } from './lib/dex.mjs';
import { Seeder, scenarioTraces } from './lib/seed.mjs';
import { startSpoor, waitFor } from './lib/spoor.mjs';

const skip = dexBuilt() ? false : 'Dex is not built (scripts/peers/build-dex.sh)';

/** The claims of a JWT (not verified: Spoor did that). */
function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

describe('login with OpenID Connect at Dex', { skip }, () => {
  let dir;
  let browser;
  let dex;
  let spoor;
  let origin;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spoor-ui-oidc-'));
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    dex = await startDex(dir, origin);
    const cfg = join(dir, 'oidc.yaml');
    writeFileSync(
      cfg,
      `extensions:
  oidc:
    issuer_url: ${dex.issuer}
    audience: ${dex.clientId}
    username_claim: email
receivers:
  otlp:
    protocols:
      grpc:
      http:
exporters:
  spoor:
service:
  extensions: [oidc]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
`,
    );
    spoor = await startSpoor({ args: ['--config', cfg, '--query-auth', 'oidc'], queryHttp: `127.0.0.1:${port}` });
    const seeder = new Seeder(spoor.otlpHttpUrl);
    seeder.emit(scenarioTraces().browse, Date.now() - 60_000);
    await seeder.flush();
    await seeder.shutdown();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await spoor?.stop();
    await dex?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('logs in at Dex with the authorization-code flow and PKCE, then sends the ID token', async () => {
    // Without a token the API refuses, and the UI learns the issuer from /api/auth/config.
    assert.equal((await fetch(`${origin}/api/services`)).status, 401);
    const config = await (await fetch(`${origin}/api/auth/config`)).json();
    assert.deepEqual(config, { type: 'oidc', issuer: dex.issuer, client_id: 'spoor-ui', scope: 'openid profile email' });

    const { page, problems } = await newPage(browser, origin);
    const api = [];
    const toDex = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.origin === origin && url.pathname.startsWith('/api/') && url.pathname !== '/api/auth/config') api.push(r.headers().authorization ?? null);
      if (url.href.startsWith(dex.issuer)) toDex.push({ method: r.method(), url, body: r.postData() });
    });
    await page.goto('/search?service=catalog');
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    const button = page.getByRole('button', { name: `Log in with 127.0.0.1:${new URL(dex.issuer).port}` });
    await button.waitFor();
    await screenshot(page, '26-login-oidc');
    await button.click();

    // Dex's own login page (its password database).
    await page.waitForURL((u) => u.href.startsWith(dex.issuer));
    const authorize = toDex.find((r) => r.url.pathname.endsWith('/auth'));
    assert.ok(authorize, 'the browser went to the authorization endpoint');
    assert.equal(authorize.url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.url.searchParams.get('client_id'), 'spoor-ui');
    assert.equal(authorize.url.searchParams.get('redirect_uri'), `${origin}/oidc/callback`);
    await page.locator('#login').fill(DEX_USER.email);
    await page.locator('#password').fill(DEX_USER.password);
    await page.locator('#submit-login').click();

    // Back at Spoor: the code is exchanged and the page the user asked for shows.
    await page.waitForURL((u) => u.origin === origin && u.pathname === '/search');
    await page.getByText(DEX_USER.email, { exact: true }).waitFor();
    await page.locator('select[name=service] option', { hasText: 'catalog' }).waitFor({ state: 'attached' });
    const exchange = toDex.find((r) => r.method === 'POST' && r.url.pathname.endsWith('/token'));
    assert.ok(exchange, 'the browser exchanged the code at the token endpoint');
    const form = new URLSearchParams(exchange.body);
    assert.equal(form.get('grant_type'), 'authorization_code');
    assert.ok((form.get('code_verifier') ?? '').length >= 43, 'the exchange sent the PKCE verifier');
    assert.equal(form.get('client_secret'), null, 'a public client sends no secret');

    const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('spoor.auth')));
    assert.match(stored.header, /^Bearer ey/);
    const claims = claimsOf(stored.header.slice('Bearer '.length));
    assert.equal(claims.iss, dex.issuer);
    assert.equal(claims.aud, 'spoor-ui');
    assert.equal(claims.email, DEX_USER.email);
    await waitFor('an API call with the ID token', async () => api.includes(stored.header));
    assert.ok(!api.includes(null) || api.indexOf(stored.header) > api.lastIndexOf(null), 'every call after the login carries the token');
    assert.deepEqual(
      problems.filter((p) => /Content Security Policy|CORS/i.test(p)),
      [],
      'no fetch was blocked by the page policy or CORS',
    );
    await screenshot(page, '27-logged-in-oidc');

    // Other pages work with it; logging out asks again, with the same button.
    await page.getByRole('link', { name: 'Monitor' }).click();
    await page.waitForSelector('.monitor-row[data-key="catalog"]');
    assert.equal(api.at(-1), stored.header);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    await button.waitFor();
    await page.context().close();
  });

  it('refuses a callback that does not match the login started in the tab', async () => {
    const { page } = await newPage(browser, origin);
    await page.goto('/oidc/callback?code=forged&state=forged');
    await page.getByRole('heading', { name: 'Login failed' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('spoor.auth')), null);
    await page.context().close();
  });
});
