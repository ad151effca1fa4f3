// Two services instrumented with the OpenTelemetry JS SDK call each other: a client span in
// `web-node`, the server span it caused in `api-node`, and a `db.system=redis` client span under
// it, each service exporting with its own Zipkin exporter.
// Usage: node node_servicegraph.js ZIPKIN_URL. Prints {"trace_id"} as JSON.
'use strict';
const path = require('path');
const mods = path.join(__dirname, '..', 'node', 'node_modules');
const need = (name) => require(path.join(mods, name));
const api = need('@opentelemetry/api');
const { TracerProvider, SimpleSpanProcessor } = need('@opentelemetry/sdk-trace');
const { resourceFromAttributes } = need('@opentelemetry/resources');
const { ZipkinExporter } = need('@opentelemetry/exporter-zipkin');

const url = process.argv[2];
const provider = (service) => new TracerProvider({
  resource: resourceFromAttributes({ 'service.name': service }),
  spanProcessors: [new SimpleSpanProcessor({ exporter: new ZipkinExporter({ url }) })],
});

async function main() {
  const web = provider('web-node');
  const apiSvc = provider('api-node');
  const call = web.getTracer('e2e').startSpan('GET /api/cart', { kind: api.SpanKind.CLIENT });
  const callCtx = api.trace.setSpan(api.context.active(), call);
  const serve = apiSvc.getTracer('e2e').startSpan('GET /api/cart', { kind: api.SpanKind.SERVER }, callCtx);
  const serveCtx = api.trace.setSpan(callCtx, serve);
  const db = apiSvc.getTracer('e2e').startSpan('GET cart:42', {
    kind: api.SpanKind.CLIENT,
    attributes: { 'db.system': 'redis' },
  }, serveCtx);
  db.end();
  serve.end();
  call.end();
  for (const p of [apiSvc, web]) {
    await p.forceFlush();
    await p.shutdown();
  }
  console.log(JSON.stringify({ trace_id: call.spanContext().traceId }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
