// Where the trace view gets a trace: an uploaded file held in memory (never stored on the server),
// else the query API.

import { fetchTrace } from './api';
import type { JaegerTrace } from './model/jaeger';
import { sameTraceId } from './model/trace-model';

const uploaded = new Map<string, JaegerTrace>();

export function rememberUploaded(traces: JaegerTrace[]) {
  uploaded.clear();
  for (const t of traces) uploaded.set(t.traceID, t);
}

export function uploadedTraces(): JaegerTrace[] {
  return [...uploaded.values()];
}

export function findUploaded(traceID: string): JaegerTrace | undefined {
  const direct = uploaded.get(traceID);
  if (direct) return direct;
  for (const [id, t] of uploaded) if (sameTraceId(id, traceID)) return t;
  return undefined;
}

export function loadTrace(traceID: string, signal?: AbortSignal): Promise<{ trace: JaegerTrace; fromUpload: boolean }> {
  const local = findUploaded(traceID);
  if (local) return Promise.resolve({ trace: local, fromUpload: true });
  return fetchTrace(traceID, signal).then((trace) => ({ trace, fromUpload: false }));
}
