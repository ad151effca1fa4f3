// The search form's state, kept in the URL with the Jaeger UI's parameter names so bookmarks and
// links into Jaeger keep working:
// `/search?service=&operation=&tags=&lookback=&start=&end=&minDuration=&maxDuration=&limit=&traceID=`.
// `start`/`end` are µs; `tags` is JSON (`{"k":"v"}`) as the Jaeger UI writes it, logfmt is read too.

import { lookbackUs, parseDuration } from './format';
import { parseLogfmt, stringifyLogfmt } from './logfmt';

export interface SearchQuery {
  /** Empty: all services. */
  service: string;
  /** Empty: all operations. */
  operation: string;
  /** logfmt, as shown in the form. */
  tags: string;
  /** A preset such as `1h`, or `custom` for start/end. */
  lookback: string;
  start: number | null;
  end: number | null;
  minDuration: string;
  maxDuration: string;
  limit: number;
  traceIDs: string[];
}

export const DEFAULT_LIMIT = 20;

export function emptyQuery(): SearchQuery {
  return { service: '', operation: '', tags: '', lookback: '1h', start: null, end: null, minDuration: '', maxDuration: '', limit: DEFAULT_LIMIT, traceIDs: [] };
}

function numberOrNull(s: string | null): number | null {
  if (s === null || s.trim() === '') return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** Tags from the URL: JSON object (Jaeger UI) or logfmt; returned as logfmt for the form. */
function tagsFromUrl(raw: string | null): string {
  if (!raw) return '';
  const t = raw.trim();
  if (t.startsWith('{')) {
    try {
      const obj = JSON.parse(t) as Record<string, unknown>;
      return stringifyLogfmt(Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)])));
    } catch {
      return t;
    }
  }
  return t;
}

export function splitTraceIds(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

export function parseSearchParams(params: URLSearchParams): SearchQuery {
  const q = emptyQuery();
  q.service = params.get('service') ?? '';
  q.operation = params.get('operation') ?? '';
  q.tags = tagsFromUrl(params.get('tags'));
  q.lookback = params.get('lookback') || q.lookback;
  q.start = numberOrNull(params.get('start'));
  q.end = numberOrNull(params.get('end'));
  q.minDuration = params.get('minDuration') ?? '';
  q.maxDuration = params.get('maxDuration') ?? '';
  q.limit = numberOrNull(params.get('limit')) ?? DEFAULT_LIMIT;
  q.traceIDs = params.getAll('traceID').flatMap(splitTraceIds);
  return q;
}

/** True when the URL asks for a search (the page was opened from a bookmark or the form was sent). */
export function isSearchRequested(params: URLSearchParams): boolean {
  return ['service', 'operation', 'tags', 'lookback', 'start', 'end', 'minDuration', 'maxDuration', 'limit', 'traceID'].some((k) => params.has(k));
}

export interface ValidationResult {
  errors: Partial<Record<'tags' | 'minDuration' | 'maxDuration' | 'limit' | 'range', string>>;
}

export function validateQuery(q: SearchQuery): ValidationResult {
  const errors: ValidationResult['errors'] = {};
  const tags = parseLogfmt(q.tags);
  if (tags.error) errors.tags = tags.error;
  if (q.minDuration && parseDuration(q.minDuration) === null) errors.minDuration = 'use a unit: 1.2ms, 500us, 2s';
  if (q.maxDuration && parseDuration(q.maxDuration) === null) errors.maxDuration = 'use a unit: 1.2ms, 500us, 2s';
  if (!(q.limit >= 1 && q.limit <= 10000)) errors.limit = 'between 1 and 10000';
  if (q.lookback === 'custom' && q.start !== null && q.end !== null && q.start > q.end) errors.range = 'start is after end';
  return { errors };
}

/**
 * The URL parameters for a query; a preset lookback is pinned to [now − lookback, now] as the Jaeger UI
 * does, so the bookmark shows the same traces later.
 */
export function searchToParams(q: SearchQuery, nowUs: number): URLSearchParams {
  const p = new URLSearchParams();
  if (q.traceIDs.length > 0) {
    for (const id of q.traceIDs) p.append('traceID', id);
    return p;
  }
  if (q.service) p.set('service', q.service);
  if (q.operation) p.set('operation', q.operation);
  const tags = parseLogfmt(q.tags).tags;
  if (Object.keys(tags).length > 0) p.set('tags', JSON.stringify(tags));
  p.set('lookback', q.lookback);
  const range = timeRange(q, nowUs);
  p.set('start', String(range.start));
  p.set('end', String(range.end));
  if (q.minDuration) p.set('minDuration', q.minDuration.trim());
  if (q.maxDuration) p.set('maxDuration', q.maxDuration.trim());
  p.set('limit', String(q.limit));
  return p;
}

/** The time range a query covers, in µs. */
export function timeRange(q: SearchQuery, nowUs: number): { start: number; end: number } {
  if (q.lookback === 'custom') {
    return { start: q.start ?? nowUs - 3600e6, end: q.end ?? nowUs };
  }
  const length = lookbackUs(q.lookback) ?? 3600e6;
  // A pinned range from the URL wins over "now" so bookmarks are stable.
  if (q.start !== null && q.end !== null) return { start: q.start, end: q.end };
  return { start: nowUs - length, end: nowUs };
}

/** Query string for `GET /api/traces`. */
export function toApiParams(q: SearchQuery, nowUs: number): URLSearchParams {
  const p = new URLSearchParams();
  if (q.traceIDs.length > 0) {
    for (const id of q.traceIDs) p.append('traceID', id);
    return p;
  }
  if (q.service) p.set('service', q.service);
  if (q.operation) p.set('operation', q.operation);
  const tags = parseLogfmt(q.tags).tags;
  if (Object.keys(tags).length > 0) p.set('tags', JSON.stringify(tags));
  const range = timeRange(q, nowUs);
  p.set('start', String(Math.floor(range.start)));
  p.set('end', String(Math.ceil(range.end)));
  if (q.lookback !== 'custom') p.set('lookback', q.lookback);
  if (q.minDuration) p.set('minDuration', q.minDuration.trim());
  if (q.maxDuration) p.set('maxDuration', q.maxDuration.trim());
  p.set('limit', String(q.limit));
  return p;
}
