// Calls to the Jaeger query API served by the same origin.

import type { ApiEnvelope, DependencyLink, JaegerTrace, OperationInfo } from './model/jaeger';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the query API: ${(e as Error).message}`, 0);
  }
  let body: ApiEnvelope<T> | null = null;
  try {
    body = (await res.json()) as ApiEnvelope<T>;
  } catch {
    body = null;
  }
  const firstError = body?.errors?.[0];
  if (!res.ok || firstError) {
    throw new ApiError(firstError?.msg ?? `${res.status} ${res.statusText} from ${url}`, firstError?.code ?? res.status);
  }
  if (!body) throw new ApiError(`malformed JSON from ${url}`, res.status);
  return body.data;
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
