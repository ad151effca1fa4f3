// The ingest test trace through the OpenTelemetry JS SDK and one of its legacy exporters.
// Usage: node node_otel.js jaeger-udp HOST PORT SERVICE | jaeger-http URL SERVICE | zipkin URL SERVICE
// Prints {"trace_id", "root", "db", "charge"} as JSON.
'use strict';
const path = require('path');
const mods = path.join(__dirname, '..', 'node', 'node_modules');
const need = (name) => require(path.join(mods, name));
const api = need('@opentelemetry/api');
const { TracerProvider, SimpleSpanProcessor } = need('@opentelemetry/sdk-trace');
const { resourceFromAttributes } = need('@opentelemetry/resources');

const [kind, ...rest] = process.argv.slice(2);
let exporter;
let service;
if (kind === 'jaeger-udp') {
  const { JaegerExporter } = need('@opentelemetry/exporter-jaeger');
  exporter = new JaegerExporter({ host: rest[0], port: Number(rest[1]) });
  service = rest[2];
} else if (kind === 'jaeger-http') {
  const { JaegerExporter } = need('@opentelemetry/exporter-jaeger');
  exporter = new JaegerExporter({ endpoint: rest[0] });
  service = rest[1];
} else if (kind === 'zipkin') {
  const { ZipkinExporter } = need('@opentelemetry/exporter-zipkin');
  exporter = new ZipkinExporter({ url: rest[0] });
  service = rest[1];
} else {
  throw new Error(`unknown exporter ${kind}`);
}

async function main() {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'e2e' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('ingest-e2e', '0.1.0');
  const root = tracer.startSpan('GET /orders', {
    kind: api.SpanKind.SERVER,
    attributes: { 'http.method': 'GET', 'order.count': 3, ratio: 0.25, cached: true },
  });
  const rootCtx = api.trace.setSpan(api.context.active(), root);
  const db = tracer.startSpan('SELECT orders', { kind: api.SpanKind.CLIENT }, rootCtx);
  db.addEvent('query.start', { attempt: 1 });
  const dbCtx = api.trace.setSpan(rootCtx, db);
  const charge = tracer.startSpan('charge card', {}, dbCtx);
  charge.setStatus({ code: api.SpanStatusCode.ERROR, message: 'card declined' });
  charge.end();
  db.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  const ids = (s) => s.spanContext();
  console.log(JSON.stringify({
    trace_id: ids(root).traceId,
    root: ids(root).spanId,
    db: ids(db).spanId,
    charge: ids(charge).spanId,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
