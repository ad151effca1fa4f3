// End-to-end: the Monitor tab. Traces with known errors go through the OTel JS SDK to the real binary
// (RED history every second); in Debian's Chromium the Monitor tab lists the services with a non-zero
// request rate, the error rate the spans imply and drawn sparklines, and a service opens its
// per-operation table.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { Seeder, scenarioTraces } from './lib/seed.mjs';
import { startSpoor, waitFor } from './lib/spoor.mjs';

let spoor;
let browser;
let page;
let problems;

/** The latest non-null point of a Monitor API family for one service. */
async function latestCalls(service) {
  const q = new URLSearchParams({ service, spanKind: 'server', lookback: '60000', step: '1000', endTs: String(Date.now()) });
  const res = await fetch(`${spoor.queryUrl}/api/metrics/calls?${q}`);
  const fam = await res.json();
  const pts = fam.metrics?.[0]?.metricPoints ?? [];
  return pts.map((p) => p.gaugeValue?.doubleValue).filter((v) => typeof v === 'number').at(-1) ?? 0;
}

before(async () => {
  spoor = await startSpoor({ args: ['--monitor-step', '1s'] });
  const seeder = new Seeder(spoor.otlpHttpUrl);
  const { failingCheckout, okCheckout, browse } = scenarioTraces();
  const base = Date.now() - 5_000;
  // frontend: 4 server spans, 1 failing → 25 %; GET /checkout: 1 of 3 failing.
  seeder.emit(failingCheckout, base);
  seeder.emit(okCheckout, base + 200);
  seeder.emit(okCheckout, base + 400);
  seeder.emit(browse, base + 600);
  await seeder.flush();
  await seeder.shutdown();
  await waitFor('RED metrics of frontend', async () => (await latestCalls('frontend')) > 0, { timeoutMs: 30_000 });
  browser = await launchBrowser();
  ({ page, problems } = await newPage(browser, spoor.queryUrl));
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

const figure = async (row, cls) => Number(await row.locator(`.${cls}`).getAttribute('data-value'));

describe('the Monitor tab', () => {
  it('lists each service with its request rate, error rate, latency and sparklines', async () => {
    await page.goto('/search');
    await page.getByRole('link', { name: 'Monitor' }).click();
    await page.waitForSelector('.monitor-row[data-key="frontend"]');
    const row = page.locator('.monitor-row[data-key="frontend"]');
    assert.ok((await figure(row, 'monitor-rate')) > 0, 'frontend has a request rate');
    const errorRate = await figure(row, 'monitor-error-rate');
    assert.ok(Math.abs(errorRate - 0.25) < 1e-9, `frontend's error rate is 1 of 4 calls, got ${errorRate}`);
    assert.match(await row.locator('.monitor-error-rate').innerText(), /^25\.0%$/);
    assert.ok((await figure(row, 'monitor-latency')) > 0, 'a p95 latency');
    // Every sparkline of the row has a drawn line.
    const paths = await row.locator('svg.sparkline path').evaluateAll((ps) => ps.map((p) => p.getAttribute('d')));
    assert.equal(paths.length, 3);
    for (const d of paths) assert.match(d, /^M[\d.]+,[\d.]+/);
    // The others are listed too; cart never failed.
    const cart = page.locator('.monitor-row[data-key="cart"]');
    assert.equal(await figure(cart, 'monitor-error-rate'), 0);
    await screenshot(page, '20-monitor-services');
  });

  it('drills down into operations and switches span kind', async () => {
    await page.locator('.monitor-row[data-key="frontend"] button').click();
    await page.waitForSelector('.monitor-table[data-level="operation"] .monitor-row[data-key="GET /checkout"]');
    assert.match(page.url(), /service=frontend/);
    const checkout = page.locator('.monitor-row[data-key="GET /checkout"]');
    const products = page.locator('.monitor-row[data-key="GET /products"]');
    const rate = await figure(checkout, 'monitor-error-rate');
    assert.ok(Math.abs(rate - 1 / 3) < 1e-9, `GET /checkout fails 1 of 3, got ${rate}`);
    assert.equal(await figure(products, 'monitor-error-rate'), 0);
    assert.ok((await figure(checkout, 'monitor-rate')) > (await figure(products, 'monitor-rate')), 'three checkouts outpace one browse');
    await screenshot(page, '21-monitor-operations');
    // No client spans were sent: that kind has nothing.
    await page.getByLabel('Span kind').selectOption('client');
    await page.waitForSelector('text=No metrics yet');
    await page.getByRole('button', { name: 'Services' }).click();
    await page.waitForSelector('.monitor-table[data-level="service"]');
    assert.deepEqual(problems, []);
  });
});
