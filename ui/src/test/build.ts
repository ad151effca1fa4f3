// Small builders for unit-test traces.

import type { JaegerSpan, JaegerTrace, KeyValue } from '../model/jaeger';

export const T0 = 1_700_000_000_000_000;

export interface SpanSpec {
  id: string;
  parent?: string;
  ref?: 'CHILD_OF' | 'FOLLOWS_FROM';
  service?: string;
  op?: string;
  start: number;
  duration: number;
  tags?: KeyValue[];
}

export function makeTrace(specs: SpanSpec[], traceID = 'abc123'): JaegerTrace {
  const services = [...new Set(specs.map((s) => s.service ?? 'svc'))];
  const processes = Object.fromEntries(services.map((s, i) => [`p${i + 1}`, { serviceName: s, tags: [] }]));
  const spans: JaegerSpan[] = specs.map((s) => ({
    traceID,
    spanID: s.id,
    operationName: s.op ?? `op-${s.id}`,
    references: s.parent ? [{ refType: s.ref ?? 'CHILD_OF', traceID, spanID: s.parent }] : [],
    startTime: T0 + s.start,
    duration: s.duration,
    tags: s.tags ?? [],
    logs: [],
    processID: `p${services.indexOf(s.service ?? 'svc') + 1}`,
    warnings: null,
  }));
  return { traceID, spans, processes, warnings: null };
}
