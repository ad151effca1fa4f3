// /monitor: RED metrics from Spoor's own span metrics (Jaeger's Monitor API): one row per service with
// request rate, error rate and a latency quantile, each with a sparkline; a service opens its
// per-operation table. The span kind, time window and quantile are chosen above the table.

import { useEffect, useState } from 'preact/hooks';
import { fetchMetricFamily, fetchServices } from '../api';
import { Sparkline } from '../components/sparkline';
import { formatErrorRate, formatLatency, formatRate, type RedRow, redRows } from '../model/monitor';
import { navigate } from '../router';

const KINDS = ['server', 'client', 'producer', 'consumer', 'internal'] as const;
const WINDOWS: [string, number][] = [
  ['Last 5 minutes', 5 * 60_000],
  ['Last 15 minutes', 15 * 60_000],
  ['Last hour', 60 * 60_000],
];

type State = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'done'; rows: RedRow[] };

/** How many points a sparkline has at most. */
const POINTS = 60;

async function loadRows(services: string[], spanKind: string, lookback: number, quantile: number, service: string | null, signal: AbortSignal): Promise<RedRow[]> {
  if (services.length === 0) return [];
  const endTs = Date.now();
  const step = Math.max(1000, Math.round(lookback / POINTS));
  const opts = { services, spanKind, groupByOperation: service !== null, endTs, lookback, step, quantile };
  const [calls, errors, latencies] = await Promise.all([
    fetchMetricFamily('calls', opts, signal),
    fetchMetricFamily('errors', opts, signal),
    fetchMetricFamily('latencies', opts, signal),
  ]);
  return redRows(calls, errors, latencies, service === null ? 'service_name' : 'operation', service === null ? services : []);
}

export function MonitorPage({ search }: { search: URLSearchParams }) {
  const service = search.get('service');
  const spanKind = search.get('spanKind') ?? 'server';
  const lookback = Number(search.get('lookback')) || WINDOWS[2][1];
  const quantile = Number(search.get('quantile')) || 0.95;
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [tick, setTick] = useState(0);

  const go = (changes: Record<string, string | null>) => {
    const p = new URLSearchParams(search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) p.delete(k);
      else p.set(k, v);
    }
    navigate(`/monitor?${p}`);
  };

  useEffect(() => {
    const ac = new AbortController();
    setState((s) => (s.kind === 'done' ? s : { kind: 'loading' }));
    (service ? Promise.resolve([service]) : fetchServices(ac.signal))
      .then((services) => loadRows(services, spanKind, lookback, quantile, service, ac.signal))
      .then((rows) => setState({ kind: 'done', rows }))
      .catch((e: Error) => e.name !== 'AbortError' && setState({ kind: 'error', message: e.message }));
    return () => ac.abort();
  }, [service, spanKind, lookback, quantile, tick]);

  const q = `p${Math.round(quantile * 100)}`;
  return (
    <div class="monitor-page">
      <div class="monitor-toolbar">
        <h2>
          {service ? (
            <>
              <button class="link" onClick={() => go({ service: null })}>
                Services
              </button>{' '}
              / <span class="monitor-service">{service}</span>
            </>
          ) : (
            'Service performance'
          )}
        </h2>
        <label>
          Span kind{' '}
          <select aria-label="Span kind" value={spanKind} onChange={(e) => go({ spanKind: (e.target as HTMLSelectElement).value })}>
            {KINDS.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Window{' '}
          <select aria-label="Time window" value={String(lookback)} onChange={(e) => go({ lookback: (e.target as HTMLSelectElement).value })}>
            {WINDOWS.map(([label, ms]) => (
              <option value={String(ms)}>{label}</option>
            ))}
          </select>
        </label>
        <label>
          Latency{' '}
          <select aria-label="Latency quantile" value={String(quantile)} onChange={(e) => go({ quantile: (e.target as HTMLSelectElement).value })}>
            {[0.5, 0.75, 0.95, 0.99].map((v) => (
              <option value={String(v)}>p{Math.round(v * 100)}</option>
            ))}
          </select>
        </label>
        <button onClick={() => setTick((t) => t + 1)}>Refresh</button>
      </div>
      {state.kind === 'loading' && <p class="muted">Loading metrics…</p>}
      {state.kind === 'error' && <p class="error-text" role="alert">{state.message}</p>}
      {state.kind === 'done' && state.rows.length === 0 && (
        <div class="empty-state">
          <h2>No metrics yet</h2>
          <p>RED metrics appear once spans of this kind arrive; they are computed from the spans Spoor receives.</p>
        </div>
      )}
      {state.kind === 'done' && state.rows.length > 0 && (
        <table class="monitor-table" data-level={service ? 'operation' : 'service'}>
          <thead>
            <tr>
              <th>{service ? 'Operation' : 'Service'}</th>
              <th>{q} latency</th>
              <th>Request rate</th>
              <th>Error rate</th>
            </tr>
          </thead>
          <tbody>
            {state.rows.map((r) => (
              <tr class="monitor-row" data-key={r.key}>
                <td class="monitor-name">
                  {service ? r.key : (
                    <button class="link" onClick={() => go({ service: r.key })}>
                      {r.key}
                    </button>
                  )}
                </td>
                <td>
                  <div class="monitor-cell">
                    <Sparkline series={r.latencySeries} label={`${q} latency of ${r.key}`} />
                    <span class="monitor-latency" data-value={r.latency ?? ''}>{formatLatency(r.latency)}</span>
                  </div>
                </td>
                <td>
                  <div class="monitor-cell">
                    <Sparkline series={r.rateSeries} label={`request rate of ${r.key}`} />
                    <span class="monitor-rate" data-value={r.rate ?? ''}>{formatRate(r.rate)}</span>
                  </div>
                </td>
                <td>
                  <div class="monitor-cell">
                    <Sparkline series={r.errorSeries} label={`error rate of ${r.key}`} color="var(--error)" />
                    <span class="monitor-error-rate" data-value={r.errorRate ?? ''}>{formatErrorRate(r.errorRate)}</span>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
