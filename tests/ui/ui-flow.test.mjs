// End-to-end: the real Spoor binary, traces sent by the OpenTelemetry JS SDK over OTLP/HTTP, and the
// web UI in Debian's Chromium: search → results → trace → span detail → compare → dependencies → upload.
// Screenshots of each page go to tests/artifacts/ui/.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { scenarioTraces, Seeder } from './lib/seed.mjs';
import { api, ARTIFACTS, startSpoor, waitFor } from './lib/spoor.mjs';

let spoor;
let browser;
let page;
let problems;
const ids = {};

before(async () => {
  spoor = await startSpoor();
  const seeder = new Seeder(spoor.otlpHttpUrl);
  const base = Date.now() - 5 * 60_000;
  const t = scenarioTraces();
  ids.failing = seeder.emit(t.failingCheckout, base);
  ids.ok = seeder.emit(t.okCheckout, base + 60_000);
  ids.browse = seeder.emit(t.browse, base + 120_000);
  await seeder.flush();
  await seeder.shutdown();
  for (const id of Object.values(ids)) {
    await waitFor(`trace ${id} to be queryable`, async () => (await api(spoor, `/api/traces/${id}`))?.[0]?.spans?.length > 0);
  }
  browser = await launchBrowser();
  ({ page, problems } = await newPage(browser, spoor.queryUrl));
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

const unexpectedProblems = () => problems.filter((p) => !/Failed to load resource/.test(p));

describe('web UI against the real binary', () => {
  it('serves the built UI, not the "not built" page', async () => {
    const res = await fetch(`${spoor.queryUrl}/search`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.ok(!html.includes('was not built'), 'the binary embeds no UI: run `npm --prefix ui ci && npm --prefix ui run build`, then `cargo build -p spoor`');
    assert.match(html, /<div id="app">/);
  });

  it('searches by service and shows results with a scatter plot', async () => {
    await page.goto('/search');
    await page.waitForFunction(() => [...document.querySelectorAll('select[name=service] option')].some((o) => o.value === 'frontend'));
    await page.selectOption('select[name=service]', 'frontend');
    await page.click('button:has-text("Find Traces")');
    await page.waitForSelector('.result-list .result');
    const url = new URL(page.url());
    assert.equal(url.pathname, '/search');
    assert.equal(url.searchParams.get('service'), 'frontend');
    assert.ok(url.searchParams.get('start') && url.searchParams.get('end'), 'the time range is pinned in the URL');
    assert.equal(await page.locator('.result').count(), 3);
    assert.ok(await page.locator('.scatter canvas').count() > 0, 'scatter plot drawn');
    const names = await page.locator('.result-name').allTextContents();
    assert.deepEqual([...names].sort(), ['frontend: GET /checkout', 'frontend: GET /checkout', 'frontend: GET /products']);
    const failing = page.locator(`.result[data-trace-id="${ids.failing}"]`);
    assert.match(await failing.locator('.error-pill').textContent(), /2 errors/);
    assert.match(await failing.textContent(), /payment \(1\)/);
    await screenshot(page, '01-search-results');
  });

  it('sorts results and keeps the form in the URL across a reload', async () => {
    await page.selectOption('select[name=sort]', 'most-spans');
    assert.equal(await page.locator('.result').first().getAttribute('data-trace-id'), ids.ok);
    await page.selectOption('select[name=sort]', 'most-errors');
    assert.equal(await page.locator('.result').first().getAttribute('data-trace-id'), ids.failing);
    await page.reload();
    await page.waitForSelector('.result-list .result');
    assert.equal(await page.locator('select[name=service]').inputValue(), 'frontend');
  });

  it('filters by logfmt tags', async () => {
    await page.fill('input[name=tags]', 'user.id=alice');
    await page.click('button:has-text("Find Traces")');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('tags') === '{"user.id":"alice"}');
    await page.waitForFunction(() => document.querySelectorAll('.result').length === 1);
    assert.equal(await page.locator('.result').first().getAttribute('data-trace-id'), ids.failing);
  });

  it('searches all services', async () => {
    await page.goto('/search');
    await page.waitForFunction(() => document.querySelectorAll('select[name=service] option').length > 1);
    assert.equal(await page.locator('select[name=service]').inputValue(), '');
    await page.click('button:has-text("Find Traces")');
    await page.waitForSelector('.result');
    assert.equal(new URL(page.url()).searchParams.has('service'), false);
    assert.equal(await page.locator('.result').count(), 3);
  });

  it('opens a trace: header, waterfall, collapse and expand', async () => {
    await page.click(`.result[data-trace-id="${ids.failing}"] .result-name`);
    await page.waitForSelector('.wf-row');
    assert.equal(new URL(page.url()).pathname, `/trace/${ids.failing}`);
    assert.match(await page.locator('.trace-title h1').textContent(), /frontend: GET \/checkout/);
    assert.equal(await page.locator('[data-fact=spans]').textContent(), '4');
    assert.equal(await page.locator('[data-fact=services]').textContent(), '4');
    assert.equal(await page.locator('[data-fact=depth]').textContent(), '3');
    assert.equal(await page.locator('[data-fact=errors]').textContent(), '2');
    assert.equal(await page.locator('.wf-row').count(), 4);
    assert.equal(await page.locator('.wf-row.has-error').count(), 2);
    await page.locator('.wf-row').first().locator('.wf-toggle').click();
    assert.equal(await page.locator('.wf-row').count(), 1);
    await page.locator('.wf-row').first().locator('.wf-toggle').click();
    assert.equal(await page.locator('.wf-row').count(), 4);
    await page.click('button:has-text("Collapse +1")');
    assert.equal(await page.locator('.wf-row').count(), 3, 'cart collapsed (its db child hidden)');
    await page.click('button:has-text("Expand all")');
    assert.equal(await page.locator('.wf-row').count(), 4);
  });

  it('shows a span in the detail panel: attributes, status, events, resource', async () => {
    await page.locator('.wf-row', { hasText: 'charge card' }).click();
    const detail = page.locator('.span-detail');
    await detail.waitFor();
    assert.equal(await detail.locator('tr[data-key="payment.provider"] .kv-value').textContent(), 'acme-pay');
    assert.equal(await detail.locator('tr[data-key="payment.amount"] .kv-value').textContent(), '42.5');
    assert.match(await detail.locator('.status').textContent(), /ERROR: card declined/);
    assert.equal(await detail.locator('.span-kind').textContent(), 'server');
    assert.match(await detail.locator('.events').textContent(), /\+50ms.*exception.*insufficient funds/s);
    assert.match(await detail.locator('table[aria-label="Resource attributes"]').textContent(), /service\.version.*1\.4\.2/s);
    assert.match(await detail.textContent(), /e2e-seed/, 'instrumentation scope shown');
    await screenshot(page, '02-trace-view'); // also docs/trace-view.png
  });

  it('finds in the trace, highlights the critical path, navigates with the keyboard', async () => {
    await page.keyboard.press('Escape');
    await page.fill('input[name=find]', 'db.system=postgresql');
    await page.waitForSelector('.wf-row.match');
    assert.equal(await page.locator('.wf-row.match').count(), 1);
    assert.match(await page.locator('.wf-row.match').textContent(), /orders-db/);
    assert.match(await page.locator('.find-count').textContent(), /of 1/);
    await page.waitForFunction(() => new URL(location.href).searchParams.get('uiFind') === 'db.system=postgresql');
    await page.fill('input[name=find]', '');
    await page.click('button:has-text("Critical path")');
    assert.ok((await page.locator('.wf-critical').count()) >= 3);
    await page.locator('.wf-row').first().click();
    await page.keyboard.press('j');
    assert.equal(await page.locator('.wf-row.selected').getAttribute('data-index'), '1');
    await page.keyboard.press('h');
    assert.equal(await page.locator('.wf-row').count(), 3, 'h collapses the selected span');
    await page.keyboard.press('}');
    assert.equal(await page.locator('.wf-row').count(), 4);
  });

  it('zooms the timeline by dragging across the minimap', async () => {
    const box = await page.locator('.minimap-box').boundingBox();
    await page.mouse.move(box.x + box.width * 0.4, box.y + 20);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 5 });
    await page.mouse.up();
    const reset = page.locator('button:has-text("Reset zoom")');
    await reset.waitFor();
    assert.match(await reset.textContent(), /Reset zoom \(2[34]\.?\d*ms\)/, '20 % of a 120 ms trace');
    await reset.click();
    assert.equal(await reset.count(), 0);
  });

  it('shows statistics and the raw JSON', async () => {
    await page.click('button[role=tab]:has-text("Statistics")');
    const table = page.locator('table.stats-table');
    await table.waitFor();
    assert.match(await table.textContent(), /payment.*charge card/s);
    await page.click('button[role=tab]:has-text("JSON")');
    assert.match(await page.locator('pre.json').textContent(), new RegExp(ids.failing));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.raw-json button:has-text("Download JSON")')]);
    assert.equal(download.suggestedFilename(), `trace-${ids.failing}.json`);
  });

  it('opens a deep link with uiFind directly', async () => {
    await page.goto(`/trace/${ids.ok}?uiFind=SELECT`);
    await page.waitForSelector('.wf-row');
    assert.equal(await page.locator('.wf-row.match').count(), 3);
  });

  it('says when a trace does not exist', async () => {
    await page.goto('/trace/00000000000000000000000000abcdef');
    await page.waitForSelector('text=Trace not found');
  });

  it('compares two traces selected in the results', async () => {
    await page.goto('/search?service=frontend&operation=GET%20%2Fcheckout&lookback=1h&limit=20');
    await page.waitForSelector('.result');
    await page.locator(`.result[data-trace-id="${ids.failing}"] input[type=checkbox]`).check();
    await page.locator(`.result[data-trace-id="${ids.ok}"] input[type=checkbox]`).check();
    await page.click('button:has-text("Compare 2/2")');
    await page.waitForSelector('.diff-row');
    assert.equal(new URL(page.url()).pathname, `/trace/${ids.failing}...${ids.ok}`);
    const dbRow = page.locator('.diff-row', { hasText: 'SELECT orders' });
    assert.equal(await dbRow.getAttribute('data-status'), 'more');
    const cells = await dbRow.locator('td.num').allTextContents();
    assert.deepEqual(cells.slice(0, 3), ['1', '3', '+2']);
    await screenshot(page, '03-compare');
    await page.goto(`/compare?a=${ids.ok}&b=${ids.browse}`);
    await page.waitForSelector('.diff-row[data-status=added]');
  });

  it('draws the dependency graph with call counts', async () => {
    await waitFor('dependencies', async () => (await api(spoor, `/api/dependencies?endTs=${Date.now()}&lookback=86400000`))?.length > 0);
    await page.goto('/dependencies');
    await page.waitForSelector('svg .dep-node');
    const services = await page.locator('svg .dep-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-service')).sort());
    for (const s of ['cart', 'frontend', 'orders-db', 'payment']) assert.ok(services.includes(s), `node ${s} in ${services}`);
    const label = page.locator('svg .dep-label[data-parent=cart][data-child=orders-db]');
    assert.equal(await label.locator('.dep-count').textContent(), '4', 'cart called orders-db 1 + 3 times');
    await screenshot(page, '04-dependencies');
  });

  it('uploads an OTLP JSON file and shows it without storing it, orphans flagged', async () => {
    const traceId = '5b8efff798038103d269b633813fc60c';
    const otlp = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'uploaded-svc' } }] },
          scopeSpans: [
            {
              scope: { name: 'upload-test' },
              spans: [
                { traceId, spanId: 'eee19b7ec3c1b174', name: 'root op', kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000100000000', attributes: [{ key: 'uploaded', value: { boolValue: true } }] },
                { traceId, spanId: 'eee19b7ec3c1b175', parentSpanId: 'eee19b7ec3c1b174', name: 'child op', kind: 3, startTimeUnixNano: '1700000000010000000', endTimeUnixNano: '1700000000050000000' },
                { traceId, spanId: 'eee19b7ec3c1b176', parentSpanId: '0000000000000bad', name: 'lost op', startTimeUnixNano: '1700000000020000000', endTimeUnixNano: '1700000000030000000' },
              ],
            },
          ],
        },
      ],
    };
    const file = `${ARTIFACTS}/upload-otlp.json`;
    writeFileSync(file, JSON.stringify(otlp));
    await page.goto('/upload');
    await page.setInputFiles('input[type=file]', file);
    await page.waitForSelector('.wf-row');
    assert.equal(new URL(page.url()).pathname, `/trace/${traceId}`);
    assert.match(await page.locator('.trace-title').textContent(), /uploaded-svc: root op.*not stored/s);
    assert.equal(await page.locator('.wf-row .orphan-badge').count(), 1);
    assert.match(await page.locator('.wf-row', { has: page.locator('.orphan-badge') }).textContent(), /lost op/);
    await screenshot(page, '05-upload');
    const res = await fetch(`${spoor.queryUrl}/api/traces/${traceId}`);
    assert.equal(res.status, 404, 'an uploaded trace is not stored');
  });

  it('switches to the dark theme and keeps it', async () => {
    await page.goto(`/trace/${ids.failing}`);
    await page.waitForSelector('.wf-row');
    await page.click('button[aria-label="Switch theme"]');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.reload();
    await page.waitForSelector('.wf-row');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await screenshot(page, '06-trace-dark');
    await page.click('button[aria-label="Switch theme"]');
  });

  it('logged no page errors', () => {
    assert.deepEqual(unexpectedProblems(), []);
  });
});
