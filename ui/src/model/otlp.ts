// OTLP JSON (`{resourceSpans:[…]}`, as the OTLP/HTTP JSON encoding and the file exporter write it)
// converted to Jaeger JSON traces, following the mapping of Jaeger's own translator (the one behind
// `POST /api/transform`): scope name/version, span attributes, span.kind, status and trace state become
// tags in that order; events become logs with an `event` field; the parent becomes a CHILD_OF reference
// and links become FOLLOWS_FROM references; resource attributes other than service.name become process tags.

import type { JaegerSpan, JaegerTrace, KeyValue, Log, Process, Reference } from './jaeger';

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value?: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: string | number; name?: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: { traceId: string; spanId: string; attributes?: OtlpKeyValue[] }[];
  droppedLinksCount?: number;
  status?: { code?: number | string; message?: string };
}
export interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { scope?: { name?: string; version?: string }; spans?: OtlpSpan[] }[];
    /** Older name of scopeSpans. */
    instrumentationLibrarySpans?: { instrumentationLibrary?: { name?: string; version?: string }; spans?: OtlpSpan[] }[];
  }[];
}

export function isOtlpJson(doc: unknown): doc is OtlpTraces {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as OtlpTraces).resourceSpans);
}

function plainValue(v: AnyValue | undefined): unknown {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plainValue);
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, plainValue(kv.value)]));
  return null;
}

function toTag(kv: OtlpKeyValue): KeyValue {
  const v = kv.value ?? {};
  if (v.stringValue !== undefined) return { key: kv.key, type: 'string', value: v.stringValue };
  if (v.boolValue !== undefined) return { key: kv.key, type: 'bool', value: v.boolValue };
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return { key: kv.key, type: 'int64', value: Number.isSafeInteger(n) ? n : String(v.intValue) };
  }
  if (v.doubleValue !== undefined) return { key: kv.key, type: 'float64', value: Number(v.doubleValue) };
  if (v.bytesValue !== undefined) return { key: kv.key, type: 'binary', value: v.bytesValue };
  return { key: kv.key, type: 'string', value: JSON.stringify(plainValue(v)) };
}

/** Nanoseconds (string or number) to microseconds, without losing precision on large strings. */
function nanosToMicros(ns: string | number | undefined): number {
  if (ns === undefined) return 0;
  if (typeof ns === 'number') return Math.floor(ns / 1000);
  return ns.length > 3 ? Number(ns.slice(0, -3)) : 0;
}

const KIND_NAMES: Record<string, string | null> = {
  '0': null, '1': 'internal', '2': 'server', '3': 'client', '4': 'producer', '5': 'consumer',
  SPAN_KIND_UNSPECIFIED: null, SPAN_KIND_INTERNAL: 'internal', SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client', SPAN_KIND_PRODUCER: 'producer', SPAN_KIND_CONSUMER: 'consumer',
};

function statusCode(code: number | string | undefined): 'OK' | 'ERROR' | null {
  if (code === 1 || code === 'STATUS_CODE_OK') return 'OK';
  if (code === 2 || code === 'STATUS_CODE_ERROR') return 'ERROR';
  return null;
}

const normId = (id: string | undefined) => (id ?? '').toLowerCase();

function spanTags(span: OtlpSpan, scopeName?: string, scopeVersion?: string): KeyValue[] {
  const tags: KeyValue[] = [];
  if (scopeName) tags.push({ key: 'otel.scope.name', type: 'string', value: scopeName });
  if (scopeVersion) tags.push({ key: 'otel.scope.version', type: 'string', value: scopeVersion });
  for (const a of span.attributes ?? []) tags.push(toTag(a));
  const kind = KIND_NAMES[String(span.kind ?? 0)];
  if (kind) tags.push({ key: 'span.kind', type: 'string', value: kind });
  const code = statusCode(span.status?.code);
  if (code) tags.push({ key: 'otel.status_code', type: 'string', value: code });
  if (code === 'ERROR') tags.push({ key: 'error', type: 'bool', value: true });
  if (span.status?.message) tags.push({ key: 'otel.status_description', type: 'string', value: span.status.message });
  if (span.traceState) tags.push({ key: 'w3c.tracestate', type: 'string', value: span.traceState });
  if (span.droppedAttributesCount) tags.push({ key: 'otel.dropped_attributes_count', type: 'int64', value: span.droppedAttributesCount });
  if (span.droppedEventsCount) tags.push({ key: 'otel.dropped_events_count', type: 'int64', value: span.droppedEventsCount });
  if (span.droppedLinksCount) tags.push({ key: 'otel.dropped_links_count', type: 'int64', value: span.droppedLinksCount });
  return tags;
}

function spanLogs(span: OtlpSpan): Log[] {
  return (span.events ?? []).map((e) => {
    const fields: KeyValue[] = [];
    if (e.name) fields.push({ key: 'event', type: 'string', value: e.name });
    for (const a of e.attributes ?? []) fields.push(toTag(a));
    return { timestamp: nanosToMicros(e.timeUnixNano), fields };
  });
}

function spanReferences(span: OtlpSpan, traceID: string): Reference[] {
  const refs: Reference[] = [];
  if (span.parentSpanId) refs.push({ refType: 'CHILD_OF', traceID, spanID: normId(span.parentSpanId) });
  for (const l of span.links ?? []) refs.push({ refType: 'FOLLOWS_FROM', traceID: normId(l.traceId), spanID: normId(l.spanId) });
  return refs;
}

/** Converts an OTLP JSON document into Jaeger traces, one per trace ID, in order of first appearance. */
export function otlpToJaeger(doc: OtlpTraces): JaegerTrace[] {
  const traces = new Map<string, { trace: JaegerTrace; processKeys: Map<string, string> }>();
  for (const rs of doc.resourceSpans ?? []) {
    const attrs = rs.resource?.attributes ?? [];
    const serviceAttr = attrs.find((a) => a.key === 'service.name');
    const process: Process = {
      serviceName: (serviceAttr?.value?.stringValue as string | undefined) ?? 'OTLPResourceNoServiceName',
      tags: attrs.filter((a) => a.key !== 'service.name').map(toTag),
    };
    const processKey = JSON.stringify(process);
    const scopes = rs.scopeSpans ?? rs.instrumentationLibrarySpans?.map((s) => ({ scope: s.instrumentationLibrary, spans: s.spans })) ?? [];
    for (const ss of scopes) {
      for (const span of ss.spans ?? []) {
        const traceID = normId(span.traceId);
        let entry = traces.get(traceID);
        if (!entry) {
          entry = { trace: { traceID, spans: [], processes: {}, warnings: null }, processKeys: new Map() };
          traces.set(traceID, entry);
        }
        let processID = entry.processKeys.get(processKey);
        if (!processID) {
          processID = `p${entry.processKeys.size + 1}`;
          entry.processKeys.set(processKey, processID);
          entry.trace.processes[processID] = process;
        }
        const start = nanosToMicros(span.startTimeUnixNano);
        const end = nanosToMicros(span.endTimeUnixNano);
        const jspan: JaegerSpan = {
          traceID,
          spanID: normId(span.spanId),
          operationName: span.name,
          references: spanReferences(span, traceID),
          startTime: start,
          duration: Math.max(0, end - start),
          tags: spanTags(span, ss.scope?.name, ss.scope?.version),
          logs: spanLogs(span),
          processID,
          warnings: null,
        };
        entry.trace.spans.push(jspan);
      }
    }
  }
  return [...traces.values()].map((e) => e.trace);
}
