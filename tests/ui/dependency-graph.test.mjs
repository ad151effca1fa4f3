// End-to-end: a dense dependency graph (8 services, each calling every other: 56 edges) sent by the
// OpenTelemetry JS SDK to the real binary, drawn by the System Architecture page in Debian's
// Chromium: fitted into its frame, labels on their edges, zoom, pan, fit, and focus on one service.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { Seeder } from './lib/seed.mjs';
import { api, startSpoor, waitFor } from './lib/spoor.mjs';

const SERVICES = ['api-gateway', 'auth', 'cart', 'catalog', 'checkout', 'orders-db', 'payment', 'shipping'];
const PAIRS = SERVICES.flatMap((p) => SERVICES.filter((c) => c !== p).map((c) => [p, c]));
let spoor;
let browser;
let page;
let problems;

before(async () => {
  spoor = await startSpoor();
  const seeder = new Seeder(spoor.otlpHttpUrl);
  const base = Date.now() - 10 * 60_000;
  PAIRS.forEach(([parent, child], i) => {
    // 1 to 3 calls per pair, so the counts differ.
    for (let n = 0; n <= i % 3; n++) {
      seeder.emit({ service: parent, name: `call ${child}`, kind: 'server', at: 0, ms: 20, children: [{ service: child, name: `serve ${parent}`, kind: 'server', at: 2, ms: 10 }] }, base + i * 1000 + n * 100);
    }
  });
  await seeder.flush();
  await seeder.shutdown();
  await waitFor('56 dependencies', async () => (await api(spoor, `/api/dependencies?endTs=${Date.now()}&lookback=86400000`))?.length === PAIRS.length);
  browser = await launchBrowser();
  ({ page, problems } = await newPage(browser, spoor.queryUrl));
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

/** The graph's drawn bounding box and the frame's, in page pixels. */
const boxes = () =>
  page.evaluate(() => {
    const r = (el) => {
      const b = el.getBoundingClientRect();
      return { x: b.x, y: b.y, w: b.width, h: b.height };
    };
    return { frame: r(document.querySelector('svg.deps-frame')), graph: r(document.querySelector('g.dep-viewport')) };
  });

const assertInside = ({ frame, graph }, what) => {
  const tol = 1;
  assert.ok(graph.w > 0 && graph.h > 0, `${what}: something is drawn`);
  assert.ok(
    graph.x >= frame.x - tol && graph.y >= frame.y - tol && graph.x + graph.w <= frame.x + frame.w + tol && graph.y + graph.h <= frame.y + frame.h + tol,
    `${what}: graph ${JSON.stringify(graph)} lies within frame ${JSON.stringify(frame)}`,
  );
};

const scale = async () => Number(await page.locator('g.dep-viewport').getAttribute('data-scale'));
const transform = () => page.locator('g.dep-viewport').getAttribute('transform');

describe('the System Architecture page with 8 services and 56 edges', () => {
  it('fits the whole graph into its frame on load', async () => {
    await page.goto('/dependencies');
    await page.waitForFunction((n) => document.querySelectorAll('svg .dep-edge').length === n, PAIRS.length);
    assert.equal(await page.locator('svg .dep-node').count(), 8);
    assertInside(await boxes(), 'on load');
    await screenshot(page, '09-dependencies-dense');
  });

  it('puts each call count on its own edge', async () => {
    const far = await page.evaluate(() => {
      const out = [];
      for (const label of document.querySelectorAll('g.dep-label')) {
        const [p, c] = [label.getAttribute('data-parent'), label.getAttribute('data-child')];
        const path = document.querySelector(`g.dep-edge[data-parent="${p}"][data-child="${c}"] path`);
        const lb = label.querySelector('rect').getBoundingClientRect();
        const [lx, ly] = [lb.x + lb.width / 2, lb.y + lb.height / 2];
        const m = path.getScreenCTM();
        const len = path.getTotalLength();
        let best = Infinity;
        for (let i = 0; i <= 200; i++) {
          const q = path.getPointAtLength((len * i) / 200);
          best = Math.min(best, Math.hypot(q.x * m.a + q.y * m.c + m.e - lx, q.x * m.b + q.y * m.d + m.f - ly));
        }
        if (best > 4) out.push(`${p}->${c}: ${best.toFixed(1)} px`);
      }
      return out;
    });
    assert.deepEqual(far, [], 'labels further than 4 px from their edge');
    const count = await page.locator('g.dep-label[data-parent=api-gateway][data-child=auth] .dep-count').textContent();
    assert.equal(count, '1');
    assert.equal(await page.locator('g.dep-label[data-parent=api-gateway][data-child=cart] .dep-count').textContent(), '2');
  });

  it('zooms with the buttons and the wheel, pans by dragging, and fits again', async () => {
    const fitted = await transform();
    const k0 = await scale();
    await page.click('button[aria-label="Zoom in"]');
    assert.ok((await scale()) > k0 * 1.2, 'zoomed in');
    await page.click('button[aria-label="Zoom out"]');
    assert.ok(Math.abs((await scale()) - k0) < 1e-3, 'zoomed back');
    const frame = await page.locator('svg.deps-frame').boundingBox();
    await page.mouse.move(frame.x + frame.width / 2, frame.y + frame.height / 2);
    await page.mouse.wheel(0, -300);
    await page.waitForFunction((k) => Number(document.querySelector('g.dep-viewport').getAttribute('data-scale')) > k * 1.2, k0);
    await page.mouse.wheel(0, 300);
    await page.mouse.wheel(0, 300);
    await page.waitForFunction((k) => Number(document.querySelector('g.dep-viewport').getAttribute('data-scale')) < k, k0);
    // Drag from an empty corner of the frame.
    const before = (await boxes()).graph;
    await page.mouse.move(frame.x + 10, frame.y + frame.height - 10);
    await page.mouse.down();
    await page.mouse.move(frame.x + 110, frame.y + frame.height - 60, { steps: 5 });
    await page.mouse.up();
    const moved = (await boxes()).graph;
    assert.ok(Math.abs(moved.x - before.x - 100) < 2 && Math.abs(moved.y - before.y + 50) < 2, `panned by (100, -50): ${JSON.stringify({ before, moved })}`);
    assert.equal(await page.locator('svg .dep-edge').count(), PAIRS.length, 'a drag does not focus a service');
    await page.click('button[aria-label="Fit to frame"]');
    assert.equal(await transform(), fitted);
    assertInside(await boxes(), 'after Fit');
  });

  it('focuses one service from the list: only its calls, fitted', async () => {
    const allScale = await scale();
    assert.equal(await page.locator('g.dep-viewport').getAttribute('data-layout'), 'ring', 'a dense graph is a ring');
    await page.selectOption('select[name=focus]', 'cart');
    await page.waitForFunction(() => document.querySelectorAll('svg .dep-edge').length === 14);
    const edges = await page.locator('svg .dep-edge').evaluateAll((els) => els.map((e) => [e.getAttribute('data-parent'), e.getAttribute('data-child')]));
    assert.ok(edges.every(([p, c]) => p === 'cart' || c === 'cart'), `only cart's calls: ${JSON.stringify(edges)}`);
    assert.equal(await page.locator('.deps-table tbody tr').count(), 14);
    const focused = await boxes();
    assertInside(focused, 'focused');
    assert.ok((await scale()) >= allScale, 'the smaller focused graph is drawn at least as large');
    assert.equal(await page.locator('g.dep-viewport').getAttribute('data-layout'), 'radial');
    const centre = await page.locator('svg .dep-node[data-service=cart] rect').first().boundingBox();
    const { frame } = focused;
    assert.ok(
      Math.abs(centre.x + centre.width / 2 - (frame.x + frame.w / 2)) < frame.w * 0.1 && Math.abs(centre.y + centre.height / 2 - (frame.y + frame.h / 2)) < frame.h * 0.1,
      `cart is in the middle of the frame: ${JSON.stringify({ centre, frame })}`,
    );
    await screenshot(page, '10-dependencies-focus');
  });

  it('focuses by clicking a service and leaves focus by clicking it again', async () => {
    await page.locator('svg .dep-node[data-service=payment]').click();
    await page.waitForFunction(() => document.querySelector('select[name=focus]').value === 'payment');
    await page.waitForFunction(() => document.querySelectorAll('svg .dep-edge').length === 14);
    assert.equal(await page.locator('svg .dep-node.focused').getAttribute('data-service'), 'payment');
    await page.locator('svg .dep-node[data-service=payment]').click();
    await page.waitForFunction((n) => document.querySelectorAll('svg .dep-edge').length === n, PAIRS.length);
    assert.equal(await page.locator('select[name=focus]').inputValue(), '');
    assertInside(await boxes(), 'all again');
  });

  it('logged no page errors', () => {
    assert.deepEqual(
      problems.filter((p) => !/Failed to load resource/.test(p)),
      [],
    );
  });
});
