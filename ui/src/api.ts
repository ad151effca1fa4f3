// Calls to the Jaeger query API served by the same origin.

import { apiHeaders, reportUnauthorized } from './auth';
import type { ApiEnvelope, DependencyLink, JaegerTrace, OperationInfo } from './model/jaeger';
import type { MetricFamily } from './model/monitor';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** Byte offset of a query's parse error, when the server reports one. */
    readonly position?: number,
  ) {
    super(message);
  }
}

/** GETs `url` with the stored credential; a 401 asks the shell for a login and throws. */
export async function getRaw(url: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: apiHeaders({ Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' }) });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the query API: ${(e as Error).message}`, 0);
  }
  if (res.status === 401) {
    reportUnauthorized(res.headers.get('WWW-Authenticate'));
    throw new ApiError('authentication required: log in to query traces', 401);
  }
  return res;
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return (await getBody<ApiEnvelope<T>>(url, signal)).data;
}

/** The JSON body of a GET, errors in Jaeger's envelope turned into `ApiError`s. */
export async function getBody<B>(url: string, signal?: AbortSignal): Promise<B> {
  const res = await getRaw(url, signal);
  let body: (B & { errors?: { code: number; msg: string; position?: number }[] | null }) | null = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const firstError = body?.errors?.[0];
  if (!res.ok || firstError) {
    throw new ApiError(firstError?.msg ?? `${res.status} ${res.statusText} from ${url}`, firstError?.code ?? res.status, firstError?.position);
  }
  if (!body) throw new ApiError(`malformed JSON from ${url}`, res.status);
  return body;
}

export function fetchServices(signal?: AbortSignal): Promise<string[]> {
  return getJson<string[] | null>('/api/services', signal).then((d) => (d ?? []).slice().sort());
}

export function fetchOperations(service: string, signal?: AbortSignal): Promise<OperationInfo[]> {
  const q = new URLSearchParams({ service });
  return getJson<OperationInfo[] | null>(`/api/operations?${q}`, signal)
    .then((d) => d ?? [])
    .catch(async (e) => {
      // Older servers only have the per-service route.
      if (e instanceof ApiError && e.status === 404) {
        const names = await getJson<string[] | null>(`/api/services/${encodeURIComponent(service)}/operations`, signal);
        return (names ?? []).map((name) => ({ name, spanKind: '' }));
      }
      throw e;
    });
}

export function searchTraces(params: URLSearchParams, signal?: AbortSignal): Promise<JaegerTrace[]> {
  return getJson<JaegerTrace[] | null>(`/api/traces?${params}`, signal).then((d) => d ?? []);
}

function traceStart(t: JaegerTrace): number {
  let min = Infinity;
  for (const s of t.spans ?? []) if (s.startTime < min) min = s.startTime;
  return min;
}

/**
 * Search that also works for "all services": the Jaeger API requires a service, so when the server
 * refuses a search without one, the same search runs once per service and the results are merged
 * (newest first, at most `limit`).
 */
export async function searchTracesAnyService(params: URLSearchParams, signal?: AbortSignal): Promise<JaegerTrace[]> {
  if (params.has('service') || params.has('traceID')) return searchTraces(params, signal);
  try {
    return await searchTraces(params, signal);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) throw e;
  }
  const services = await fetchServices(signal);
  const perService = await Promise.all(
    services.map((service) => {
      const p = new URLSearchParams(params);
      p.set('service', service);
      p.delete('operation');
      return searchTraces(p, signal);
    }),
  );
  const byId = new Map<string, JaegerTrace>();
  for (const list of perService) for (const t of list) if (!byId.has(t.traceID)) byId.set(t.traceID, t);
  const limit = Number(params.get('limit')) || 20;
  return [...byId.values()].sort((a, b) => traceStart(b) - traceStart(a)).slice(0, limit);
}

export async function fetchTrace(traceID: string, signal?: AbortSignal): Promise<JaegerTrace> {
  const data = await getJson<JaegerTrace[] | null>(`/api/traces/${encodeURIComponent(traceID)}`, signal);
  if (!data || data.length === 0) throw new ApiError(`trace ${traceID} not found`, 404);
  return data[0];
}

export function fetchDependencies(endTsMs: number, lookbackMs: number, signal?: AbortSignal): Promise<DependencyLink[]> {
  const q = new URLSearchParams({ endTs: String(endTsMs), lookback: String(lookbackMs) });
  return getJson<DependencyLink[] | null>(`/api/dependencies?${q}`, signal).then((d) => d ?? []);
}

export type MonitorMeasure = 'calls' | 'errors' | 'latencies';

/** A Jaeger Monitor API family (`/api/metrics/{calls,errors,latencies}`) for some services. */
export function fetchMetricFamily(
  measure: MonitorMeasure,
  opts: { services: string[]; spanKind: string; groupByOperation?: boolean; endTs: number; lookback: number; step: number; ratePer?: number; quantile?: number },
  signal?: AbortSignal,
): Promise<MetricFamily> {
  const q = new URLSearchParams();
  for (const s of opts.services) q.append('service', s);
  q.set('spanKind', opts.spanKind);
  if (opts.groupByOperation) q.set('groupByOperation', 'true');
  q.set('endTs', String(opts.endTs));
  q.set('lookback', String(opts.lookback));
  q.set('step', String(opts.step));
  q.set('ratePer', String(opts.ratePer ?? 600_000));
  if (measure === 'latencies') q.set('quantile', String(opts.quantile ?? 0.95));
  return getBody<MetricFamily>(`/api/metrics/${measure}?${q}`, signal);
}

/** The smallest step of the RED history, in ms. */
export function fetchMinStep(signal?: AbortSignal): Promise<number> {
  return getJson<number>('/api/metrics/minstep', signal);
}

export interface QueryMatchSpan {
  spanID: string;
  name: string;
  service: string;
  startTime: number;
  duration: number;
}

export interface QueryMatch {
  traceID: string;
  rootServiceName: string;
  rootTraceName: string;
  startTime: number;
  duration: number;
  matchedSpans: QueryMatchSpan[];
  matched: number;
}

/** Runs a TraceQL query (or `SELECT … FROM traces`) on the query port. Times in µs. */
export function runQuery(q: string, opts: { start?: number; end?: number; limit?: number }, signal?: AbortSignal): Promise<QueryMatch[]> {
  const p = new URLSearchParams({ q });
  if (opts.start !== undefined) p.set('start', String(opts.start));
  if (opts.end !== undefined) p.set('end', String(opts.end));
  if (opts.limit !== undefined) p.set('limit', String(opts.limit));
  return getJson<QueryMatch[] | null>(`/api/traceql?${p}`, signal).then((d) => d ?? []);
}

export function fetchTagNames(signal?: AbortSignal): Promise<{ span: string[]; resource: string[] }> {
  return getJson<{ span: string[]; resource: string[] }>('/api/traceql/tags', signal);
}

export function fetchTagValues(tag: string, signal?: AbortSignal): Promise<string[]> {
  return getJson<string[] | null>(`/api/traceql/tags/${encodeURIComponent(tag)}/values`, signal).then((d) => d ?? []);
}
