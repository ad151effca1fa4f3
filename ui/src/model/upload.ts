// What an uploaded file holds: Jaeger JSON in any of its usual shapes, or OTLP JSON.

import type { JaegerTrace } from './jaeger';
import { isOtlpJson, otlpToJaeger } from './otlp';

function isJaegerTrace(x: unknown): x is JaegerTrace {
  return typeof x === 'object' && x !== null && typeof (x as JaegerTrace).traceID === 'string' && Array.isArray((x as JaegerTrace).spans);
}

/** Traces in a parsed file, or an error message saying what the file is not. */
export function tracesFromDocument(doc: unknown): { traces: JaegerTrace[]; format: string } | { error: string } {
  if (isOtlpJson(doc)) return { traces: otlpToJaeger(doc), format: 'OTLP JSON' };
  let list: unknown[] | null = null;
  if (Array.isArray(doc)) list = doc;
  else if (typeof doc === 'object' && doc !== null && Array.isArray((doc as { data?: unknown }).data)) list = (doc as { data: unknown[] }).data;
  else if (isJaegerTrace(doc)) list = [doc];
  if (!list) return { error: 'not a Jaeger JSON ({data:[trace…]}, a trace, or a list of traces) nor an OTLP JSON ({resourceSpans:[…]}) document' };
  const traces = list.filter(isJaegerTrace).map((t) => ({ ...t, processes: t.processes ?? {} }));
  if (traces.length === 0) return { error: 'the file holds no traces' };
  return { traces, format: 'Jaeger JSON' };
}
