// Self time and the statistics table of the trace view.
//
// A span's self time is its duration less the part of it covered by at least one child (children
// clipped to the span; overlapping children are counted once).

import type { TraceModel } from './trace-model';

export function computeSelfTimes(model: TraceModel): Float64Array {
  const nodes = model.nodes;
  const self = new Float64Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    // Children are sorted by start time, so one sweep merges their intervals.
    let covered = 0;
    let runStart = -1;
    let runEnd = -1;
    for (const c of node.children) {
      const s = Math.max(nodes[c].start, node.start);
      const e = Math.min(nodes[c].end, node.end);
      if (e <= s) continue;
      if (runEnd < 0 || s > runEnd) {
        if (runEnd > runStart) covered += runEnd - runStart;
        runStart = s;
        runEnd = e;
      } else if (e > runEnd) {
        runEnd = e;
      }
    }
    if (runEnd > runStart) covered += runEnd - runStart;
    self[i] = Math.max(0, node.duration - covered);
  }
  return self;
}

export interface StatsRow {
  service: string;
  /** Empty for a per-service row. */
  operation: string;
  count: number;
  errors: number;
  total: number;
  min: number;
  max: number;
  selfTotal: number;
}

export interface TraceStats {
  byService: StatsRow[];
  byOperation: StatsRow[];
}

function addTo(map: Map<string, StatsRow>, key: string, service: string, operation: string, d: number, self: number, err: boolean) {
  let row = map.get(key);
  if (!row) {
    row = { service, operation, count: 0, errors: 0, total: 0, min: Infinity, max: -Infinity, selfTotal: 0 };
    map.set(key, row);
  }
  row.count++;
  row.total += d;
  row.selfTotal += self;
  if (d < row.min) row.min = d;
  if (d > row.max) row.max = d;
  if (err) row.errors++;
}

export function computeStats(model: TraceModel, selfTimes: Float64Array = computeSelfTimes(model)): TraceStats {
  const services = new Map<string, StatsRow>();
  const operations = new Map<string, StatsRow>();
  for (const node of model.nodes) {
    const self = selfTimes[node.index];
    addTo(services, node.service, node.service, '', node.duration, self, node.hasError);
    addTo(operations, `${node.service}\u0000${node.operation}`, node.service, node.operation, node.duration, self, node.hasError);
  }
  const bySelf = (a: StatsRow, b: StatsRow) => b.selfTotal - a.selfTotal || a.service.localeCompare(b.service) || a.operation.localeCompare(b.operation);
  return { byService: [...services.values()].sort(bySelf), byOperation: [...operations.values()].sort(bySelf) };
}
