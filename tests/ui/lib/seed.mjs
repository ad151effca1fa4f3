// Seeds Spoor with traces made by the real OpenTelemetry JS SDK, exported over OTLP/HTTP (protobuf).
// One tracer provider per service, spans with explicit times, parents passed as explicit contexts.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL, producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER };

export class Seeder {
  constructor(otlpHttpUrl) {
    this.url = `${otlpHttpUrl}/v1/traces`;
    this.providers = new Map();
  }

  tracer(service) {
    let p = this.providers.get(service);
    if (!p) {
      const exporter = new OTLPTraceExporter({ url: this.url, timeoutMillis: 10_000 });
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.4.2', 'deployment.environment': 'e2e', 'host.name': `${service}-host` }),
        spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 1000, maxQueueSize: 100_000, scheduledDelayMillis: 50 })],
      });
      this.providers.set(service, p);
    }
    return p.getTracer('e2e-seed', '0.1.0');
  }

  /**
   * Emits a span tree. spec: {service, name, kind, at (ms after base), ms (duration), attrs, events:[{name, at, attrs}],
   * error: message, children:[spec]}. Returns the trace ID.
   */
  emit(spec, baseMs, parentCtx = ROOT_CONTEXT) {
    const tracer = this.tracer(spec.service);
    const span = tracer.startSpan(spec.name, { kind: KINDS[spec.kind ?? 'internal'], attributes: spec.attrs ?? {}, startTime: baseMs + (spec.at ?? 0) }, parentCtx);
    for (const e of spec.events ?? []) span.addEvent(e.name, e.attrs ?? {}, baseMs + e.at);
    if (spec.error) span.setStatus({ code: SpanStatusCode.ERROR, message: spec.error });
    const ctx = trace.setSpan(parentCtx, span);
    for (const child of spec.children ?? []) this.emit(child, baseMs, ctx);
    span.end(baseMs + (spec.at ?? 0) + spec.ms);
    return span.spanContext().traceId;
  }

  async flush() {
    for (const p of this.providers.values()) await p.forceFlush();
  }

  async shutdown() {
    for (const p of this.providers.values()) await p.shutdown();
  }
}

/** The traces of the UI scenario: two checkouts (one failing) and a catalogue browse. */
export function scenarioTraces() {
  const db = (at, ms, stmt) => ({ service: 'orders-db', name: 'SELECT orders', kind: 'server', at, ms, attrs: { 'db.system': 'postgresql', 'db.statement': stmt } });
  const checkout = (failing, queries) => ({
    service: 'frontend',
    name: 'GET /checkout',
    kind: 'server',
    at: 0,
    ms: failing ? 120 : 180,
    attrs: { 'http.method': 'GET', 'http.route': '/checkout', 'http.status_code': failing ? 500 : 200, 'user.id': failing ? 'alice' : 'bob' },
    error: failing ? 'checkout failed' : undefined,
    children: [
      {
        service: 'cart',
        name: 'load cart',
        kind: 'server',
        at: 5,
        ms: 40,
        attrs: { 'cart.items': 3 },
        events: [{ name: 'cache miss', at: 7, attrs: { 'cache.key': 'cart:42' } }],
        children: Array.from({ length: queries }, (_, i) => db(8 + i * 10, 8, `SELECT * FROM orders WHERE cart = ${i}`)),
      },
      {
        service: 'payment',
        name: 'charge card',
        kind: 'server',
        at: 50,
        ms: failing ? 60 : 110,
        attrs: { 'payment.provider': 'acme-pay', 'payment.amount': 42.5, 'payment.retry': !failing },
        error: failing ? 'card declined' : undefined,
        events: failing ? [{ name: 'exception', at: 100, attrs: { 'exception.type': 'CardDeclined', 'exception.message': 'insufficient funds' } }] : [],
      },
    ],
  });
  const browse = {
    service: 'frontend',
    name: 'GET /products',
    kind: 'server',
    at: 0,
    ms: 60,
    attrs: { 'http.method': 'GET', 'http.route': '/products', 'http.status_code': 200 },
    children: [
      { service: 'catalog', name: 'list products', kind: 'server', at: 3, ms: 50, children: [db(5, 20, 'SELECT * FROM products')] },
    ],
  };
  return { failingCheckout: checkout(true, 1), okCheckout: checkout(false, 3), browse };
}
