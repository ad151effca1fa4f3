import { describe, expect, it } from 'vitest';
import type { JaegerTrace } from './jaeger';
import { kindFromTagValue, resourceOf, spanKindOf } from './span-facts';
import { buildTraceModel } from './trace-model';

// A span as Spoor returns one sent by a Jaeger exporter: kind only as the `span.kind` tag, the
// process with a service name and no tags.
const jaegerTrace = (kind: string | number, processTags: JaegerTrace['processes'][string]['tags'] = []): JaegerTrace => ({
  traceID: 'a1',
  spans: [
    {
      traceID: 'a1',
      spanID: 'b1',
      operationName: 'GET /orders',
      references: [],
      startTime: 1_700_000_000_000_000,
      duration: 1000,
      tags: [
        { key: 'http.method', type: 'string', value: 'GET' },
        { key: 'span.kind', type: typeof kind === 'number' ? 'int64' : 'string', value: kind },
      ],
      logs: [],
      processID: 'p1',
    },
  ],
  processes: { p1: { serviceName: 'jaeger-svc', tags: processTags } },
});

describe('kindFromTagValue', () => {
  it('reads the spellings producers use', () => {
    expect(kindFromTagValue('server')).toBe('server');
    expect(kindFromTagValue('SERVER')).toBe('server');
    expect(kindFromTagValue(' Client ')).toBe('client');
    expect(kindFromTagValue('SPAN_KIND_PRODUCER')).toBe('producer');
    expect(kindFromTagValue(5)).toBe('consumer');
    expect(kindFromTagValue('1')).toBe('internal');
    expect(kindFromTagValue('rpc')).toBe('rpc');
  });

  it('is null for nothing and for unspecified', () => {
    expect(kindFromTagValue(undefined)).toBeNull();
    expect(kindFromTagValue('')).toBeNull();
    expect(kindFromTagValue('unspecified')).toBeNull();
    expect(kindFromTagValue('SPAN_KIND_UNSPECIFIED')).toBeNull();
    expect(kindFromTagValue(0)).toBeNull();
  });
});

describe('spanKindOf and the trace model', () => {
  it('derive the kind from the span.kind tag', () => {
    expect(spanKindOf(jaegerTrace('SERVER').spans[0].tags)).toBe('server');
    expect(spanKindOf([])).toBeNull();
    expect(buildTraceModel(jaegerTrace('CLIENT')).nodes[0].kind).toBe('client');
    expect(buildTraceModel(jaegerTrace(2)).nodes[0].kind).toBe('server');
  });
});

describe('resourceOf', () => {
  it('heads the resource with the service name, which is its first attribute', () => {
    const t = jaegerTrace('server');
    const r = resourceOf(t, t.spans[0]);
    expect(r.heading).toBe('jaeger-svc');
    expect(r.attributes).toEqual([{ key: 'service.name', type: 'string', value: 'jaeger-svc' }]);
  });

  it('lists the process tags after it, without a second service.name', () => {
    const t = jaegerTrace('server', [
      { key: 'service.name', type: 'string', value: 'jaeger-svc' },
      { key: 'host.name', type: 'string', value: 'h1' },
    ]);
    const r = resourceOf(t, t.spans[0]);
    expect(r.attributes.map((a) => a.key)).toEqual(['service.name', 'host.name']);
  });

  it('uses an inlined process', () => {
    const t = jaegerTrace('server');
    const span = { ...t.spans[0], processID: '', process: { serviceName: 'inline-svc', tags: [{ key: 'ip', type: 'string' as const, value: '10.0.0.1' }] } };
    const r = resourceOf({ ...t, processes: {} }, span);
    expect(r.heading).toBe('inline-svc');
    expect(r.attributes.map((a) => a.key)).toEqual(['service.name', 'ip']);
  });
});
