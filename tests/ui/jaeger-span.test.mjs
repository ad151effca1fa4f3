// End-to-end: one trace sent by the OpenTelemetry JS SDK through its Jaeger exporter (Jaeger thrift
// over HTTP, where the kind travels as the `span.kind` tag and the resource as the process) to the
// real binary, then in Debian's Chromium: the single search result sits in the middle of a narrow
// scatter-plot time axis, and the span detail shows the kind and a resource headed by the service.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { JaegerExporter } from '@opentelemetry/exporter-jaeger';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { api, startSpoor, waitFor } from './lib/spoor.mjs';

const SERVICE = 'jaeger-exported';
let spoor;
let browser;
let page;
let problems;
let traceId;
let startMs;

before(async () => {
  spoor = await startSpoor({ receivers: ['jaeger-thrift-http'] });
  const exporter = new JaegerExporter({ endpoint: `http://${spoor.addrs['jaeger-thrift-http']}/api/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('jaeger-e2e', '0.1.0');
  startMs = Date.now() - 2 * 60_000;
  const root = tracer.startSpan('GET /orders', { kind: SpanKind.SERVER, attributes: { 'http.method': 'GET' }, startTime: startMs }, ROOT_CONTEXT);
  const db = tracer.startSpan('SELECT orders', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' }, startTime: startMs + 5 }, trace.setSpan(ROOT_CONTEXT, root));
  db.end(startMs + 25);
  root.end(startMs + 40);
  traceId = root.spanContext().traceId;
  await provider.forceFlush();
  await provider.shutdown();
  await waitFor(`trace ${traceId}`, async () => (await api(spoor, `/api/traces/${traceId}`))?.[0]?.spans?.length === 2);
  browser = await launchBrowser();
  ({ page, problems } = await newPage(browser, spoor.queryUrl));
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

describe('a trace sent by a Jaeger exporter', () => {
  it('is stored with span.kind tags (what the UI reads)', async () => {
    const [t] = await api(spoor, `/api/traces/${traceId}`);
    const kinds = Object.fromEntries(t.spans.map((s) => [s.operationName, s.tags.find((x) => x.key === 'span.kind')?.value]));
    assert.deepEqual(kinds, { 'GET /orders': 'server', 'SELECT orders': 'client' });
  });

  it('is the single search result, centred on a narrow time axis', async () => {
    await page.goto(`/search?service=${SERVICE}&lookback=1h`);
    await page.waitForSelector('.result');
    assert.equal(await page.locator('.result').count(), 1);
    const plot = page.locator('.scatter-plot');
    await page.waitForFunction(() => document.querySelector('.scatter-plot')?.dataset.xMax);
    const [min, max] = [Number(await plot.getAttribute('data-x-min')), Number(await plot.getAttribute('data-x-max'))];
    await screenshot(page, '07-single-result-scatter');
    const span = max - min;
    assert.ok(span > 0 && span <= 120, `time axis spans ${span} s, not minutes or years`);
    const at = (startMs / 1000 - min) / span;
    assert.ok(at > 0.4 && at < 0.6, `the point sits at ${at.toFixed(3)} of the axis, not at an edge`);
    // And it is drawn there: the coloured (non-grey) pixels of the plot area are around its middle.
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector('.scatter-plot canvas');
      const ctx = canvas.getContext('2d');
      const { width, height } = canvas;
      const px = ctx.getImageData(0, 0, width, height).data;
      let sum = 0;
      let n = 0;
      const seen = {};
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 4;
          const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]];
          if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 45) {
            sum += x;
            n++;
            const key = `${r},${g},${b}`;
            seen[key] = seen[key] ?? [x, y];
          }
        }
      }
      return { n, x: n ? sum / n / width : null, width, colours: Object.entries(seen).slice(0, 12) };
    });
    assert.ok(drawn.n > 10, 'the point is drawn');
    assert.ok(drawn.x > 0.4 && drawn.x < 0.7, `the point is drawn at ${drawn.x} of the canvas width: ${JSON.stringify(drawn)}`);
  });

  it('shows the kind from span.kind and the resource headed by the service name', async () => {
    await page.click('.result .result-name');
    await page.waitForSelector('.wf-row');
    await page.locator('.wf-row', { hasText: 'GET /orders' }).click();
    const detail = page.locator('.span-detail');
    await detail.waitFor();
    assert.equal(await detail.locator('.span-kind').textContent(), 'server');
    const resource = detail.locator('details[data-section=resource]');
    assert.equal(await resource.locator('summary .resource-name').textContent(), SERVICE);
    const rows = await resource.locator('table[aria-label="Resource attributes"] tr').count();
    assert.ok(rows >= 1);
    assert.equal(await resource.locator('summary .count').textContent(), String(rows), 'the count is the rows listed');
    assert.doesNotMatch(await resource.locator('summary').textContent(), /Resource\s*0/);
    assert.equal(await resource.locator('tr[data-key="service.name"] .kv-value').textContent(), SERVICE);
    await screenshot(page, '08-jaeger-span-detail');
    await page.locator('.wf-row', { hasText: 'SELECT orders' }).click();
    assert.equal(await detail.locator('.span-kind').textContent(), 'client');
  });

  it('logged no page errors', () => {
    assert.deepEqual(
      problems.filter((p) => !/Failed to load resource/.test(p)),
      [],
    );
  });
});
