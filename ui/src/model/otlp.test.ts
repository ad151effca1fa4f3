import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { otlpToJaeger } from './otlp';
import { tracesFromDocument } from './upload';

const doc = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'h1' } }] },
      scopeSpans: [
        {
          scope: { name: 'my-lib', version: '1.2.3' },
          spans: [
            {
              traceId: '0AF7651916CD43DD8448EB211C80319C',
              spanId: 'b7ad6b7169203331',
              name: 'GET /cart',
              kind: 2,
              startTimeUnixNano: '1706678909209712345',
              endTimeUnixNano: '1706678909210712345',
              attributes: [
                { key: 'http.status_code', value: { intValue: '500' } },
                { key: 'big', value: { intValue: '9223372036854775807' } },
                { key: 'ratio', value: { doubleValue: 0.5 } },
                { key: 'ok', value: { boolValue: false } },
                { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } } },
              ],
              events: [{ timeUnixNano: '1706678909210000000', name: 'exception', attributes: [{ key: 'exception.message', value: { stringValue: 'boom' } }] }],
              links: [{ traceId: 'ffffffffffffffffffffffffffffffff', spanId: '00f067aa0ba902b7' }],
              status: { code: 2, message: 'failed' },
            },
            { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'c1', parentSpanId: 'b7ad6b7169203331', name: 'db', kind: 'SPAN_KIND_CLIENT', startTimeUnixNano: '1706678909209800000', endTimeUnixNano: '1706678909209900000' },
          ],
        },
      ],
    },
  ],
};

describe('otlpToJaeger', () => {
  const [trace] = otlpToJaeger(doc);
  const root = trace.spans[0];

  it('converts ids, times and the process', () => {
    expect(trace.traceID).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(root.startTime).toBe(1706678909209712);
    expect(root.duration).toBe(1000);
    expect(trace.processes).toEqual({ p1: { serviceName: 'checkout', tags: [{ key: 'host.name', type: 'string', value: 'h1' }] } });
    expect(trace.spans[1].references).toEqual([{ refType: 'CHILD_OF', traceID: trace.traceID, spanID: 'b7ad6b7169203331' }]);
  });

  it('maps scope, attributes, kind and status to tags in Jaeger order', () => {
    expect(root.tags).toEqual([
      { key: 'otel.scope.name', type: 'string', value: 'my-lib' },
      { key: 'otel.scope.version', type: 'string', value: '1.2.3' },
      { key: 'http.status_code', type: 'int64', value: 500 },
      { key: 'big', type: 'int64', value: '9223372036854775807' },
      { key: 'ratio', type: 'float64', value: 0.5 },
      { key: 'ok', type: 'bool', value: false },
      { key: 'list', type: 'string', value: '["a",2]' },
      { key: 'span.kind', type: 'string', value: 'server' },
      { key: 'otel.status_code', type: 'string', value: 'ERROR' },
      { key: 'error', type: 'bool', value: true },
      { key: 'otel.status_description', type: 'string', value: 'failed' },
    ]);
    expect(trace.spans[1].tags).toContainEqual({ key: 'span.kind', type: 'string', value: 'client' });
  });

  it('turns events into logs and links into FOLLOWS_FROM references', () => {
    expect(root.logs).toEqual([
      { timestamp: 1706678909210000, fields: [{ key: 'event', type: 'string', value: 'exception' }, { key: 'exception.message', type: 'string', value: 'boom' }] },
    ]);
    expect(root.references).toEqual([{ refType: 'FOLLOWS_FROM', traceID: 'ffffffffffffffffffffffffffffffff', spanID: '00f067aa0ba902b7' }]);
  });

  const shared = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/conformance/jaeger/otlp2jaeger');
  it.skipIf(!existsSync(shared))('matches Jaeger’s own translator on the shared conformance fixture (skipped when ../shared is absent)', () => {
    const input = JSON.parse(readFileSync(`${shared}/otlp2jaeger-in.json`, 'utf8'));
    const output = JSON.parse(readFileSync(`${shared}/otlp2jaeger-out.json`, 'utf8'));
    expect(otlpToJaeger(input)).toEqual(output.data);
  });
});

describe('tracesFromDocument', () => {
  const one = { traceID: 't1', spans: [], processes: {} };
  it('accepts the usual Jaeger shapes and OTLP', () => {
    expect(tracesFromDocument({ data: [one] })).toMatchObject({ traces: [one], format: 'Jaeger JSON' });
    expect(tracesFromDocument([one, { ...one, traceID: 't2' }])).toMatchObject({ format: 'Jaeger JSON' });
    expect(tracesFromDocument(one)).toMatchObject({ traces: [one] });
    expect(tracesFromDocument(doc)).toMatchObject({ format: 'OTLP JSON' });
  });
  it('says what is wrong with other files', () => {
    expect(tracesFromDocument({ hello: 1 })).toHaveProperty('error');
    expect(tracesFromDocument({ data: [] })).toEqual({ error: 'the file holds no traces' });
  });
});
