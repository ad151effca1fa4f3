// End-to-end: the query box. Traces from the OTel JS SDK go to the real binary; in Debian's Chromium
// a TraceQL query lists the matching traces with their matched spans highlighted, the SQL form works
// through the toggle, a parse error is shown with its position, and tag names and values complete.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { Seeder, scenarioTraces } from './lib/seed.mjs';
import { api, startSpoor, waitFor } from './lib/spoor.mjs';

let spoor;
let browser;
let page;
let problems;
const ids = {};

before(async () => {
  spoor = await startSpoor();
  const seeder = new Seeder(spoor.otlpHttpUrl);
  const { failingCheckout, okCheckout, browse } = scenarioTraces();
  const base = Date.now() - 60_000;
  ids.failing = seeder.emit(failingCheckout, base);
  ids.ok = seeder.emit(okCheckout, base + 1_000);
  ids.browse = seeder.emit(browse, base + 2_000);
  await seeder.flush();
  await seeder.shutdown();
  for (const id of Object.values(ids)) await waitFor(`trace ${id}`, async () => (await api(spoor, `/api/traces/${id}`))?.[0]?.spans?.length > 0);
  browser = await launchBrowser();
  ({ page, problems } = await newPage(browser, spoor.queryUrl));
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

async function run(text) {
  const box = page.getByLabel('Query', { exact: true });
  await box.fill(text);
  await page.getByRole('button', { name: 'Run query' }).click();
}

describe('the query box', () => {
  it('runs TraceQL and highlights the matched spans of each trace', async () => {
    await page.goto('/search');
    await page.getByRole('link', { name: 'Query' }).click();
    await run('{ status = error }');
    await page.waitForSelector('.query-result');
    const traces = await page.locator('.query-result').evaluateAll((els) => els.map((e) => e.dataset.traceId));
    assert.deepEqual(traces, [ids.failing]);
    const spans = await page.locator('.query-result .query-span.matched').evaluateAll((els) => els.map((e) => e.innerText.replace(/\s+/g, ' ').trim()));
    assert.equal(spans.length, 2, spans.join(' | '));
    assert.ok(spans.some((s) => s.startsWith('frontend GET /checkout')), spans.join(' | '));
    assert.ok(spans.some((s) => s.startsWith('payment charge card')), spans.join(' | '));
    await screenshot(page, '22-query-traceql');
    // A matched span opens the trace with that span found.
    await page.locator('.query-span', { hasText: 'charge card' }).locator('a').click();
    await page.waitForURL(new RegExp(`/trace/${ids.failing}\\?uiFind=`));
    await page.goBack();
  });

  it('runs the SQL form through the toggle', async () => {
    await page.getByRole('button', { name: 'SQL' }).click();
    await run("SELECT * FROM traces WHERE operation.name = 'load cart' AND duration > 1ms");
    await page.waitForSelector('.query-count');
    await page.waitForFunction(() => document.querySelectorAll('.query-result').length === 2);
    const traces = await page.locator('.query-result').evaluateAll((els) => els.map((e) => e.dataset.traceId).sort());
    assert.deepEqual(traces, [ids.failing, ids.ok].sort());
    assert.match(page.url(), /lang=sql/);
  });

  it('shows a parse error with its position', async () => {
    await page.getByRole('button', { name: 'TraceQL' }).click();
    await run('{ span.http.method = }');
    const caret = page.locator('.query-error-caret');
    await caret.waitFor();
    const position = Number(await caret.getAttribute('data-position'));
    assert.ok(position >= 20 && position <= 22, `position ${position} points at the missing value`);
    assert.match(await page.locator('.query-error .error-text').innerText(), /invalid TraceQL query: parse error at position/);
    const lines = (await caret.innerText()).split('\n');
    assert.equal(lines[1].indexOf('^'), position);
    await screenshot(page, '23-query-parse-error');
  });

  it('completes tag names and values', async () => {
    const box = page.getByLabel('Query', { exact: true });
    await box.fill('');
    await box.pressSequentially('{ span.http.');
    const list = page.getByRole('listbox', { name: 'Suggestions' });
    await list.waitFor();
    const names = await list.getByRole('option').allInnerTexts();
    assert.ok(names.includes('span.http.method') && names.includes('span.http.route'), names.join(', '));
    await list.getByRole('option', { name: 'span.http.route' }).click();
    assert.equal(await box.inputValue(), '{ span.http.route');
    await box.pressSequentially(' = ');
    await page.waitForFunction(() => [...document.querySelectorAll('.query-suggestions li')].some((li) => li.textContent === '"/products"'));
    const values = await list.getByRole('option').allInnerTexts();
    assert.deepEqual(values.sort(), ['"/checkout"', '"/products"']);
    await box.press('ArrowDown');
    await box.press('Tab');
    const chosen = await box.inputValue();
    assert.ok(chosen === '{ span.http.route = "/products"' || chosen === '{ span.http.route = "/checkout"', chosen);
    await box.pressSequentially(' }');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.waitForSelector('.query-result');
    assert.equal(await page.locator('.query-result').count(), chosen.includes('products') ? 1 : 2);
    assert.deepEqual(problems.filter((p) => !p.includes('400')), []);
  });
});
