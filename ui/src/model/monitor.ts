// The Monitor tab's model: Jaeger's Monitor API answers (`MetricFamily` JSON from
// `/api/metrics/{calls,errors,latencies}`) turned into table rows per service or operation, and the
// SVG path of a sparkline.

export interface MetricPoint {
  gaugeValue?: { doubleValue?: number | null } | null;
  timestamp: string;
}

export interface MetricFamily {
  name: string;
  type: string;
  help?: string;
  metrics: { labels: { name: string; value: string }[]; metricPoints: MetricPoint[] }[] | null;
}

/** One series: points with a time (ms) and a value, null where there was no data. */
export interface Series {
  points: { t: number; v: number | null }[];
}

export interface RedRow {
  /** The service, or the operation in a drill-down. */
  key: string;
  /** Requests per second (latest point). */
  rate: number | null;
  /** Errors as a fraction of calls (latest point). */
  errorRate: number | null;
  /** The latency quantile asked for, in ms (latest point). */
  latency: number | null;
  rateSeries: Series;
  errorSeries: Series;
  latencySeries: Series;
}

function pointValue(p: MetricPoint): number | null {
  const v = p.gaugeValue?.doubleValue;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The series of a family keyed by one label (`service_name` or `operation`). */
export function seriesBy(family: MetricFamily | null | undefined, label: string): Map<string, Series> {
  const out = new Map<string, Series>();
  for (const m of family?.metrics ?? []) {
    const key = m.labels.find((l) => l.name === label)?.value;
    if (key === undefined) continue;
    const points = m.metricPoints
      .map((p) => ({ t: Date.parse(p.timestamp), v: pointValue(p) }))
      .filter((p) => Number.isFinite(p.t))
      .sort((a, b) => a.t - b.t);
    out.set(key, { points });
  }
  return out;
}

/** The newest value of a series that is not null. */
export function latest(s: Series | undefined): number | null {
  if (!s) return null;
  for (let i = s.points.length - 1; i >= 0; i--) {
    const v = s.points[i].v;
    if (v !== null) return v;
  }
  return null;
}

const EMPTY: Series = { points: [] };

/** Table rows from the three families, keyed by `label`, sorted by request rate (highest first). */
export function redRows(
  calls: MetricFamily | null | undefined,
  errors: MetricFamily | null | undefined,
  latencies: MetricFamily | null | undefined,
  label: string,
  keys: string[] = [],
): RedRow[] {
  const c = seriesBy(calls, label);
  const e = seriesBy(errors, label);
  const l = seriesBy(latencies, label);
  const all = new Set<string>([...keys, ...c.keys(), ...e.keys(), ...l.keys()]);
  const rows = [...all].map((key) => {
    const rateSeries = c.get(key) ?? EMPTY;
    const errorSeries = e.get(key) ?? EMPTY;
    const latencySeries = l.get(key) ?? EMPTY;
    return { key, rate: latest(rateSeries), errorRate: latest(errorSeries), latency: latest(latencySeries), rateSeries, errorSeries, latencySeries };
  });
  return rows.sort((a, b) => (b.rate ?? -1) - (a.rate ?? -1) || a.key.localeCompare(b.key));
}

/**
 * The `d` of an SVG path drawing `s` in a `width`×`height` box: x by time, y from 0 (bottom) to the
 * series' maximum (top). Gaps (nulls) break the line. Empty when nothing is drawable.
 */
export function sparklinePath(s: Series, width: number, height: number): string {
  const pts = s.points.filter((p) => Number.isFinite(p.t));
  if (pts.length === 0) return '';
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t;
  let max = 0;
  for (const p of pts) if (p.v !== null && p.v > max) max = p.v;
  const x = (t: number) => (t1 === t0 ? width / 2 : ((t - t0) / (t1 - t0)) * width);
  const y = (v: number) => (max === 0 ? height : height - (v / max) * height);
  const r = (n: number) => Math.round(n * 10) / 10;
  let d = '';
  let pen = false;
  for (const p of pts) {
    if (p.v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${r(x(p.t))},${r(y(p.v))}`;
    pen = true;
  }
  return d;
}

export function formatRate(v: number | null): string {
  if (v === null) return '—';
  if (v === 0) return '0 req/s';
  if (v < 0.01) return `${v.toPrecision(2)} req/s`;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} req/s`;
}

export function formatErrorRate(v: number | null): string {
  if (v === null) return '—';
  const pct = v * 100;
  return `${pct === 0 ? '0' : pct < 0.1 ? pct.toPrecision(2) : pct.toFixed(1)}%`;
}

export function formatLatency(ms: number | null): string {
  if (ms === null) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} ms`;
}
