// The statistics tab: count, total, average, min, max and self time per service or per operation.

import { useMemo, useState } from 'preact/hooks';
import { serviceColor } from '../colors';
import { formatDuration } from '../model/format';
import { computeStats, type StatsRow } from '../model/stats';
import type { TraceModel } from '../model/trace-model';

type Column = 'service' | 'operation' | 'count' | 'errors' | 'total' | 'avg' | 'min' | 'max' | 'selfTotal' | 'selfPct';

const COLUMNS: { key: Column; label: string; numeric: boolean }[] = [
  { key: 'service', label: 'Service', numeric: false },
  { key: 'operation', label: 'Operation', numeric: false },
  { key: 'count', label: 'Count', numeric: true },
  { key: 'errors', label: 'Errors', numeric: true },
  { key: 'total', label: 'Total', numeric: true },
  { key: 'avg', label: 'Avg', numeric: true },
  { key: 'min', label: 'Min', numeric: true },
  { key: 'max', label: 'Max', numeric: true },
  { key: 'selfTotal', label: 'Self time', numeric: true },
  { key: 'selfPct', label: 'Self % of trace', numeric: true },
];

function valueOf(row: StatsRow, col: Column, traceDuration: number): number | string {
  switch (col) {
    case 'service':
      return row.service;
    case 'operation':
      return row.operation;
    case 'avg':
      return row.total / row.count;
    case 'selfPct':
      return traceDuration > 0 ? row.selfTotal / traceDuration : 0;
    default:
      return row[col];
  }
}

export function TraceStatsTable({ model, selfTimes }: { model: TraceModel; selfTimes: Float64Array }) {
  const stats = useMemo(() => computeStats(model, selfTimes), [model, selfTimes]);
  const [groupBy, setGroupBy] = useState<'operation' | 'service'>('operation');
  const [sort, setSort] = useState<{ col: Column; desc: boolean }>({ col: 'selfTotal', desc: true });
  const rows = groupBy === 'service' ? stats.byService : stats.byOperation;
  const cols = COLUMNS.filter((c) => groupBy === 'operation' || c.key !== 'operation');
  const sorted = [...rows].sort((a, b) => {
    const x = valueOf(a, sort.col, model.duration);
    const y = valueOf(b, sort.col, model.duration);
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return sort.desc ? -c : c;
  });
  return (
    <div class="stats">
      <div class="toolbar">
        <span>Group by</span>
        <div class="segmented">
          {(['operation', 'service'] as const).map((g) => (
            <button key={g} class={groupBy === g ? 'active' : ''} aria-pressed={groupBy === g} onClick={() => setGroupBy(g)}>
              {g === 'operation' ? 'Service + operation' : 'Service'}
            </button>
          ))}
        </div>
      </div>
      <table class="stats-table" aria-label="Trace statistics">
        <thead>
          <tr>
            {cols.map((c) => (
              <th
                key={c.key}
                class={c.numeric ? 'num' : ''}
                aria-sort={sort.col === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
                onClick={() => setSort((s) => ({ col: c.key, desc: s.col === c.key ? !s.desc : c.numeric }))}
              >
                {c.label}
                {sort.col === c.key ? (sort.desc ? ' ↓' : ' ↑') : ''}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={`${r.service}\u0000${r.operation}`}>
              <td>
                <span class="wf-svc-mark" style={{ background: serviceColor(r.service) }} /> {r.service}
              </td>
              {groupBy === 'operation' && <td>{r.operation}</td>}
              <td class="num">{r.count}</td>
              <td class={`num${r.errors ? ' error-text' : ''}`}>{r.errors}</td>
              <td class="num">{formatDuration(r.total)}</td>
              <td class="num">{formatDuration(r.total / r.count)}</td>
              <td class="num">{formatDuration(r.min)}</td>
              <td class="num">{formatDuration(r.max)}</td>
              <td class="num">{formatDuration(r.selfTotal)}</td>
              <td class="num">{model.duration > 0 ? `${((100 * r.selfTotal) / model.duration).toFixed(1)}%` : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
