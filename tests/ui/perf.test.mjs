// Performance of the web UI in headless Chromium, against the real binary:
//  1. a generated 100k-span trace opened through the upload page: time to the first screen of rows,
//     then frame times while scrolling the waterfall;
//  2. 1,500 search results (seeded with the OTel JS SDK): time to render and the longest main-thread task.
// Prints the figures (ui/PERF.md records them with this command). Limits are deliberately loose so the
// test fails on a regression of several times, not on a noisy machine.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { generateJaegerTrace, jaegerToOtlpJsonBatches } from './lib/generate-trace.mjs';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { Seeder } from './lib/seed.mjs';
import { api, ARTIFACTS, startSpoor, waitFor } from './lib/spoor.mjs';

const SPANS = Number(process.env.PERF_SPANS ?? 100_000);
const RESULTS = Number(process.env.PERF_RESULTS ?? 1500);

let spoor;
let browser;
const figures = {};

before(async () => {
  spoor = await startSpoor();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
  console.log(`\nUI performance figures:\n${JSON.stringify(figures, null, 2)}`);
  writeFileSync(`${ARTIFACTS}/perf.json`, JSON.stringify(figures, null, 2));
});

/** Frame times while scrolling `selector` by `step` px per animation frame for `frames` frames. */
async function scrollFrames(page, selector, step, frames) {
  return page.evaluate(
    ({ selector, step, frames }) =>
      new Promise((resolve) => {
        const el = document.querySelector(selector);
        const times = [];
        let last = performance.now();
        let n = 0;
        const tick = (now) => {
          times.push(now - last);
          last = now;
          el.scrollTop += step;
          if (++n < frames) requestAnimationFrame(tick);
          else resolve(times.slice(1));
        };
        requestAnimationFrame(tick);
      }),
    { selector, step, frames },
  );
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const round = (x) => Math.round(x * 10) / 10;

describe('web UI performance', () => {
  it(`opens a ${SPANS}-span trace from a file and scrolls it`, async () => {
    const t0 = performance.now();
    const trace = generateJaegerTrace(SPANS, { seed: 7 });
    const file = `${ARTIFACTS}/trace-${SPANS}.json`;
    writeFileSync(file, JSON.stringify({ data: [trace] }));
    figures.generateMs = Math.round(performance.now() - t0);
    const { page, problems } = await newPage(browser, spoor.queryUrl);
    await page.goto('/upload');
    await page.waitForSelector('input[type=file]', { state: 'attached' });
    const start = Date.now();
    await page.setInputFiles('input[type=file]', file);
    await page.waitForSelector(`body[data-trace-rendered="${trace.traceID}"]`, { timeout: 60_000 });
    const wall = Date.now() - start;
    rmSync(file);
    const inPage = await page.evaluate(() => ({ upload: window.spoorUploadPerf, trace: window.spoorPerf }));
    const rowsInDom = await page.locator('.wf-row').count();
    figures.trace = {
      spans: SPANS,
      fileMB: round(inPage.upload.bytes / 1e6),
      firstScreenMs: wall,
      inPageMs: Math.round(inPage.trace.renderedAt - inPage.upload.startedAt),
      readFileMs: Math.round(inPage.upload.readMs),
      jsonParseMs: Math.round(inPage.upload.parseMs),
      modelBuildMs: Math.round(inPage.trace.modelMs),
      renderMs: Math.round(inPage.trace.renderedAt - inPage.trace.mountedAt - inPage.trace.modelMs),
      rowsInDom,
    };
    assert.equal(inPage.trace.spans, SPANS);
    assert.ok(rowsInDom < 200, `virtualised: ${rowsInDom} rows in the DOM`);
    await screenshot(page, '07-trace-100k');

    const frames = await scrollFrames(page, '.wf-scroll', 240, 180);
    figures.trace.scroll = { frames: frames.length, avgFrameMs: round(frames.reduce((a, b) => a + b, 0) / frames.length), p95FrameMs: round(pct(frames, 95)), maxFrameMs: round(Math.max(...frames)) };
    // Jump to the end (a long scroll) and check the rows there render.
    await page.keyboard.press('End');
    await page.waitForFunction(() => document.querySelector('.wf-row.selected') !== null);
    const toggleStart = Date.now();
    await page.click('button:has-text("Collapse all")');
    await page.waitForFunction(() => document.querySelectorAll('.wf-row').length === 1);
    await page.click('button:has-text("Expand all")');
    await page.waitForFunction(() => document.querySelectorAll('.wf-row').length > 10);
    figures.trace.collapseExpandAllMs = Date.now() - toggleStart;
    const findStart = Date.now();
    await page.fill('input[name=find]', 'http.status_code=500');
    await page.waitForSelector('.find-count');
    figures.trace.findMs = Date.now() - findStart;
    console.log(JSON.stringify(figures.trace));
    assert.ok(wall < 10_000, `first screen in ${wall} ms`);
    assert.ok(figures.trace.scroll.p95FrameMs < 100, `p95 frame ${figures.trace.scroll.p95FrameMs} ms`);
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
    await page.context().close();
  });

  it(`opens a ${SPANS}-span trace stored in Spoor (sent over OTLP/HTTP JSON)`, async () => {
    const trace = generateJaegerTrace(SPANS, { seed: 11 });
    const t0 = Date.now();
    for (const body of jaegerToOtlpJsonBatches(trace, 5_000)) {
      const res = await fetch(`${spoor.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.ok(res.ok, `OTLP export: ${res.status} ${await res.text()}`);
    }
    figures.api = { spans: SPANS, ingestMs: Date.now() - t0 };
    await waitFor('the whole trace to be stored', async () => (await api(spoor, `/api/traces/${trace.traceID}`))?.[0]?.spans?.length === SPANS, { timeoutMs: 60_000, intervalMs: 500 });
    const { page, problems } = await newPage(browser, spoor.queryUrl);
    await page.goto('/search');
    const start = Date.now();
    await page.goto(`/trace/${trace.traceID}`);
    await page.waitForSelector(`body[data-trace-rendered="${trace.traceID}"]`, { timeout: 60_000 });
    const inPage = await page.evaluate(() => window.spoorPerf);
    Object.assign(figures.api, { firstScreenMs: Date.now() - start, fetchAndParseMs: Math.round(inPage.fetchMs), modelBuildMs: Math.round(inPage.modelMs) });
    const frames = await scrollFrames(page, '.wf-scroll', 240, 120);
    figures.api.scroll = { avgFrameMs: round(frames.reduce((a, b) => a + b, 0) / frames.length), p95FrameMs: round(pct(frames, 95)) };
    console.log(JSON.stringify(figures.api));
    assert.equal(inPage.spans, SPANS);
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
    await page.context().close();
  });

  it(`renders ${RESULTS} search results without freezing`, async () => {
    const seeder = new Seeder(spoor.otlpHttpUrl);
    const base = Date.now() - 10 * 60_000;
    for (let i = 0; i < RESULTS; i++) {
      seeder.emit(
        {
          service: 'perf-front',
          name: `GET /item/${i % 20}`,
          kind: 'server',
          at: i * 200,
          ms: 5 + (i % 97),
          attrs: { 'http.status_code': i % 50 === 0 ? 500 : 200 },
          error: i % 50 === 0 ? 'boom' : undefined,
          children: [
            { service: 'perf-back', name: 'load', kind: 'server', at: i * 200 + 1, ms: 3 },
            { service: 'perf-db', name: 'query', kind: 'client', at: i * 200 + 2, ms: 1 },
          ],
        },
        base,
      );
    }
    await seeder.flush();
    await seeder.shutdown();
    await waitFor(`${RESULTS} traces stored`, async () => (await api(spoor, `/api/traces?service=perf-front&lookback=1h&limit=${RESULTS}`))?.length === RESULTS, { timeoutMs: 60_000, intervalMs: 500 });

    const { page, problems } = await newPage(browser, spoor.queryUrl);
    await page.addInitScript(() => {
      window.longTasks = [];
      new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask', buffered: true });
    });
    const start = Date.now();
    await page.goto(`/search?service=perf-front&lookback=1h&limit=${RESULTS}`);
    await page.waitForFunction((n) => document.querySelector('.result-count')?.textContent === String(n) && document.querySelector('.scatter canvas'), RESULTS, { timeout: 60_000 });
    const wall = Date.now() - start;
    await page.selectOption('select[name=sort]', 'longest');
    const frames = await scrollFrames(page, '.search-results', 300, 120);
    const longTasks = await page.evaluate(() => window.longTasks);
    figures.search = {
      results: RESULTS,
      renderMs: wall,
      longestTaskMs: Math.round(Math.max(0, ...longTasks)),
      scroll: { avgFrameMs: round(frames.reduce((a, b) => a + b, 0) / frames.length), p95FrameMs: round(pct(frames, 95)) },
      resultRowsInDom: await page.locator('.result').count(),
    };
    console.log(JSON.stringify(figures.search));
    await screenshot(page, '08-search-1500');
    assert.ok(wall < 15_000, `results in ${wall} ms`);
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
    await page.context().close();
  });
});
