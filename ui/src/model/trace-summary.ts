// One line of the search results: what a trace is called, how long it took, which services it touched.
// Cheaper than the full trace model, since search results may hold 1,500 traces.

import { type JaegerTrace, serviceOf, spanHasError } from './jaeger';

export interface TraceSummary {
  traceID: string;
  /** `service: operation` of the root span (or of the earliest span when there is no root). */
  name: string;
  rootService: string;
  rootOperation: string;
  start: number;
  duration: number;
  spanCount: number;
  errorCount: number;
  /** Services with their span and error counts, most spans first. */
  services: { name: string; spanCount: number; errorCount: number }[];
  /** True when the root span is missing (every span names an absent parent). */
  missingRoot: boolean;
}

export function summarizeTrace(trace: JaegerTrace): TraceSummary {
  const spans = trace.spans ?? [];
  const ids = new Set<string>();
  for (const s of spans) ids.add(s.spanID);
  let start = Infinity;
  let end = -Infinity;
  let errorCount = 0;
  let root: (typeof spans)[number] | undefined;
  let earliest: (typeof spans)[number] | undefined;
  const services = new Map<string, { name: string; spanCount: number; errorCount: number }>();
  for (const s of spans) {
    if (s.startTime < start) start = s.startTime;
    if (s.startTime + s.duration > end) end = s.startTime + s.duration;
    const err = spanHasError(s);
    if (err) errorCount++;
    const svc = serviceOf(trace, s);
    let entry = services.get(svc);
    if (!entry) services.set(svc, (entry = { name: svc, spanCount: 0, errorCount: 0 }));
    entry.spanCount++;
    if (err) entry.errorCount++;
    const hasParentHere = (s.references ?? []).some((r) => ids.has(r.spanID) && r.spanID !== s.spanID);
    if (!hasParentHere && (!root || s.startTime < root.startTime)) root = s;
    if (!earliest || s.startTime < earliest.startTime) earliest = s;
  }
  const head = root ?? earliest;
  const rootService = head ? serviceOf(trace, head) : '';
  const rootOperation = head?.operationName ?? '';
  const isTrueRoot = !!root && !(root.references ?? []).some((r) => r.refType === 'CHILD_OF' && !ids.has(r.spanID));
  return {
    traceID: trace.traceID,
    name: head ? `${rootService}: ${rootOperation}` : '(empty trace)',
    rootService,
    rootOperation,
    start: spans.length ? start : 0,
    duration: spans.length ? end - start : 0,
    spanCount: spans.length,
    errorCount,
    services: [...services.values()].sort((a, b) => b.spanCount - a.spanCount || a.name.localeCompare(b.name)),
    missingRoot: spans.length > 0 && !isTrueRoot,
  };
}

export type ResultSort = 'newest' | 'oldest' | 'longest' | 'shortest' | 'most-spans' | 'most-errors';

export const RESULT_SORTS: { value: ResultSort; label: string }[] = [
  { value: 'newest', label: 'Most recent' },
  { value: 'oldest', label: 'Oldest first' },
  { value: 'longest', label: 'Longest first' },
  { value: 'shortest', label: 'Shortest first' },
  { value: 'most-spans', label: 'Most spans' },
  { value: 'most-errors', label: 'Most errors' },
];

export function sortSummaries(list: TraceSummary[], by: ResultSort): TraceSummary[] {
  const cmp: Record<ResultSort, (a: TraceSummary, b: TraceSummary) => number> = {
    newest: (a, b) => b.start - a.start,
    oldest: (a, b) => a.start - b.start,
    longest: (a, b) => b.duration - a.duration,
    shortest: (a, b) => a.duration - b.duration,
    'most-spans': (a, b) => b.spanCount - a.spanCount,
    'most-errors': (a, b) => b.errorCount - a.errorCount,
  };
  const c = cmp[by];
  return [...list].sort((a, b) => c(a, b) || a.traceID.localeCompare(b.traceID));
}
