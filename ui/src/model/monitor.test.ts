import { describe, expect, it } from 'vitest';
import { formatErrorRate, formatLatency, formatRate, latest, type MetricFamily, redRows, seriesBy, sparklinePath } from './monitor';

const ts = (s: number) => new Date(Date.UTC(2026, 10, 30, 8, 0, s)).toISOString();
const family = (name: string, label: string, series: Record<string, (number | null)[]>): MetricFamily => ({
  name,
  type: 'GAUGE',
  metrics: Object.entries(series).map(([key, values]) => ({
    labels: [{ name: label, value: key }],
    metricPoints: values.map((v, i) => ({ gaugeValue: { doubleValue: v }, timestamp: ts(i) })),
  })),
});

describe('monitor model', () => {
  it('keys series by a label, in time order, nulls kept as gaps', () => {
    const s = seriesBy(family('service_call_rate', 'service_name', { shop: [1, null, 3] }), 'service_name').get('shop');
    expect(s?.points.map((p) => p.v)).toEqual([1, null, 3]);
    expect(latest(s)).toBe(3);
    expect(latest({ points: [{ t: 0, v: 2 }, { t: 1, v: null }] })).toBe(2);
  });

  it('builds rows per service, busiest first, with services that have no data yet', () => {
    const rows = redRows(
      family('service_call_rate', 'service_name', { shop: [0, 2], batch: [0, 5] }),
      family('service_error_rate', 'service_name', { shop: [null, 0.25], batch: [0, 0] }),
      family('service_latencies', 'service_name', { shop: [10, 300], batch: [null, 5] }),
      'service_name',
      ['quiet'],
    );
    expect(rows.map((r) => [r.key, r.rate, r.errorRate, r.latency])).toEqual([
      ['batch', 5, 0, 5],
      ['shop', 2, 0.25, 300],
      ['quiet', null, null, null],
    ]);
  });

  it('draws a sparkline scaled to the box, broken at gaps', () => {
    const s = { points: [{ t: 0, v: 0 }, { t: 10, v: 4 }, { t: 20, v: null }, { t: 30, v: 2 }] };
    expect(sparklinePath(s, 30, 10)).toBe('M0,10L10,0M30,5');
    expect(sparklinePath({ points: [] }, 30, 10)).toBe('');
    expect(sparklinePath({ points: [{ t: 5, v: 0 }] }, 30, 10)).toBe('M15,10');
  });

  it('formats figures', () => {
    expect(formatRate(0.5)).toBe('0.50 req/s');
    expect(formatRate(null)).toBe('—');
    expect(formatErrorRate(0.1)).toBe('10.0%');
    expect(formatErrorRate(0)).toBe('0%');
    expect(formatLatency(300)).toBe('300 ms');
    expect(formatLatency(1500)).toBe('1.50 s');
  });
});
