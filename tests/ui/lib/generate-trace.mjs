// Deterministic synthetic traces in Jaeger JSON, for the performance test and visual checks.
// A tree with fan-out 1–8, depth up to ~12, ~12 services, 6 tags per span, events on 5 % and errors on
// 2 % of spans. Children sit inside their parent's time range.

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const SERVICES = ['frontend', 'api-gateway', 'auth', 'cart', 'checkout', 'payment', 'inventory', 'shipping', 'email', 'postgres', 'redis', 'kafka'];
const OPS = ['GET /api/cart', 'POST /api/checkout', 'SELECT orders', 'HGET session', 'publish order.created', 'charge', 'reserve', 'render', 'validate token', 'send'];

const hex = (r, n) => {
  let out = '';
  for (let i = 0; i < n; i++) out += Math.floor(r() * 16).toString(16);
  return out;
};

/** A Jaeger trace of exactly `spanCount` spans. */
export function generateJaegerTrace(spanCount, { seed = 42, startUs = Date.now() * 1000 - 60e6 } = {}) {
  const r = rng(seed);
  const traceID = hex(r, 32);
  const processes = {};
  SERVICES.forEach((s, i) => {
    processes[`p${i + 1}`] = { serviceName: s, tags: [{ key: 'host.name', type: 'string', value: `${s}-7d9f` }, { key: 'telemetry.sdk.language', type: 'string', value: 'nodejs' }] };
  });
  const spans = [];
  const rootDuration = 30e6;
  const queue = [{ id: hex(r, 16), parent: null, start: startUs, duration: rootDuration, depth: 0 }];
  let head = 0;
  while (spans.length < spanCount && head < queue.length) {
    const cur = queue[head++];
    const svc = Math.floor(r() * SERVICES.length);
    const isError = r() < 0.02;
    const tags = [
      { key: 'span.kind', type: 'string', value: cur.parent ? (r() < 0.5 ? 'client' : 'server') : 'server' },
      { key: 'http.method', type: 'string', value: r() < 0.5 ? 'GET' : 'POST' },
      { key: 'http.status_code', type: 'int64', value: isError ? 500 : 200 },
      { key: 'tenant.id', type: 'string', value: `tenant-${Math.floor(r() * 50)}` },
      { key: 'otel.scope.name', type: 'string', value: '@opentelemetry/instrumentation-http' },
      { key: 'request.id', type: 'string', value: hex(r, 12) },
    ];
    if (isError) tags.push({ key: 'error', type: 'bool', value: true }, { key: 'otel.status_code', type: 'string', value: 'ERROR' });
    const logs = r() < 0.05 ? [{ timestamp: Math.floor(cur.start + cur.duration / 2), fields: [{ key: 'event', type: 'string', value: 'cache miss' }, { key: 'key', type: 'string', value: hex(r, 8) }] }] : [];
    spans.push({
      traceID,
      spanID: cur.id,
      operationName: OPS[Math.floor(r() * OPS.length)],
      references: cur.parent ? [{ refType: 'CHILD_OF', traceID, spanID: cur.parent }] : [],
      startTime: Math.floor(cur.start),
      duration: Math.max(1, Math.floor(cur.duration)),
      tags,
      logs,
      processID: `p${svc + 1}`,
      warnings: null,
    });
    const fanout = cur.depth > 12 ? 0 : 1 + Math.floor(r() * (cur.depth < 3 ? 8 : 4));
    let t = cur.start + cur.duration * 0.02;
    for (let i = 0; i < fanout; i++) {
      const remaining = cur.start + cur.duration - t;
      if (remaining <= 2) break;
      const d = remaining * (0.2 + r() * 0.6);
      queue.push({ id: hex(r, 16), parent: cur.id, start: t, duration: d, depth: cur.depth + 1 });
      t += r() < 0.5 ? d * 0.3 : d + remaining * 0.02;
    }
    if (head === queue.length && spans.length < spanCount) {
      // Keep going: hang more children under random earlier spans.
      const p = spans[Math.floor(r() * spans.length)];
      queue.push({ id: hex(r, 16), parent: p.spanID, start: p.startTime, duration: p.duration * 0.5, depth: 1 });
    }
  }
  return { traceID, spans, processes, warnings: null };
}

const KIND = { server: 2, client: 3, producer: 4, consumer: 5, internal: 1 };

function otlpValue(tag) {
  switch (tag.type) {
    case 'bool':
      return { boolValue: tag.value };
    case 'int64':
      return { intValue: String(tag.value) };
    case 'float64':
      return { doubleValue: tag.value };
    default:
      return { stringValue: String(tag.value) };
  }
}

/** The same trace as OTLP/JSON request bodies of at most `perBatch` spans, for `POST /v1/traces`. */
export function jaegerToOtlpJsonBatches(trace, perBatch = 10_000) {
  const bodies = [];
  for (let i = 0; i < trace.spans.length; i += perBatch) {
    const byProcess = new Map();
    for (const s of trace.spans.slice(i, i + perBatch)) {
      let list = byProcess.get(s.processID);
      if (!list) byProcess.set(s.processID, (list = []));
      const kind = s.tags.find((t) => t.key === 'span.kind')?.value;
      const isError = s.tags.some((t) => t.key === 'error' && t.value === true);
      const parent = s.references.find((r) => r.refType === 'CHILD_OF');
      list.push({
        traceId: s.traceID,
        spanId: s.spanID,
        ...(parent ? { parentSpanId: parent.spanID } : {}),
        name: s.operationName,
        kind: KIND[kind] ?? 1,
        startTimeUnixNano: `${s.startTime}000`,
        endTimeUnixNano: `${s.startTime + s.duration}000`,
        attributes: s.tags.filter((t) => !['span.kind', 'error', 'otel.status_code', 'otel.scope.name'].includes(t.key)).map((t) => ({ key: t.key, value: otlpValue(t) })),
        events: s.logs.map((l) => ({
          timeUnixNano: `${l.timestamp}000`,
          name: String(l.fields.find((f) => f.key === 'event')?.value ?? 'log'),
          attributes: l.fields.filter((f) => f.key !== 'event').map((f) => ({ key: f.key, value: otlpValue(f) })),
        })),
        status: isError ? { code: 2, message: 'error' } : {},
      });
    }
    bodies.push(
      JSON.stringify({
        resourceSpans: [...byProcess].map(([pid, spans]) => ({
          resource: { attributes: [{ key: 'service.name', value: { stringValue: trace.processes[pid].serviceName } }, ...trace.processes[pid].tags.map((t) => ({ key: t.key, value: otlpValue(t) }))] },
          scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http' }, spans }],
        })),
      }),
    );
  }
  return bodies;
}
