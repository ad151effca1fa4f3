// The Jaeger query-API JSON (what `/api/traces` returns and what Jaeger's "Download JSON" saves).
// Times are microseconds since the Unix epoch, durations microseconds.

export type TagType = 'string' | 'bool' | 'int64' | 'float64' | 'binary';

export interface KeyValue {
  key: string;
  type: TagType;
  /** int64 values beyond 2^53 arrive as strings; binary values are base64. */
  value: string | number | boolean;
}

export interface Reference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface Log {
  timestamp: number;
  fields: KeyValue[];
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: Reference[] | null;
  startTime: number;
  duration: number;
  tags?: KeyValue[] | null;
  logs?: Log[] | null;
  processID: string;
  warnings?: string[] | null;
  /** Some producers inline the process instead of using the processes map. */
  process?: Process;
}

export interface Process {
  serviceName: string;
  tags?: KeyValue[] | null;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, Process>;
  warnings?: string[] | null;
}

export interface ApiEnvelope<T> {
  data: T;
  total?: number;
  limit?: number;
  offset?: number;
  errors?: { code: number; msg: string }[] | null;
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
}

export interface OperationInfo {
  name: string;
  spanKind: string;
}

export function tagValue(tags: KeyValue[] | null | undefined, key: string): KeyValue['value'] | undefined {
  if (!tags) return undefined;
  for (const t of tags) if (t.key === key) return t.value;
  return undefined;
}

/** A span is in error when it carries `error=true` or `otel.status_code=ERROR`. */
export function spanHasError(span: JaegerSpan): boolean {
  const tags = span.tags;
  if (!tags) return false;
  for (const t of tags) {
    if (t.key === 'error' && (t.value === true || t.value === 'true')) return true;
    if (t.key === 'otel.status_code' && t.value === 'ERROR') return true;
  }
  return false;
}

/** Renders a tag value as text, the way the detail panel shows it. */
export function formatTagValue(tag: KeyValue): string {
  if (typeof tag.value === 'string') return tag.value;
  return String(tag.value);
}

export function serviceOf(trace: JaegerTrace, span: JaegerSpan): string {
  return span.process?.serviceName ?? trace.processes[span.processID]?.serviceName ?? 'unknown-service';
}
