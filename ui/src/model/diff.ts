// Structural diff of two traces, as in Jaeger's trace comparison: spans are grouped by their path of
// (service, operation) pairs from the top of the trace, and each path is compared by how often it occurs
// and how much time it took in trace A and trace B.

import type { TraceModel } from './trace-model';

export interface DiffSide {
  count: number;
  total: number;
}

export type DiffStatus = 'added' | 'removed' | 'more' | 'fewer' | 'same';

export interface DiffRow {
  /** Path key: (service, operation) pairs from the top. */
  key: string;
  service: string;
  operation: string;
  depth: number;
  a: DiffSide;
  b: DiffSide;
  status: DiffStatus;
  /** Rows below this one in the merged tree. */
  descendants: number;
}

interface PathNode {
  key: string;
  service: string;
  operation: string;
  depth: number;
  a: DiffSide;
  b: DiffSide;
  children: Map<string, PathNode>;
}

function newPathNode(key: string, service: string, operation: string, depth: number): PathNode {
  return { key, service, operation, depth, a: { count: 0, total: 0 }, b: { count: 0, total: 0 }, children: new Map() };
}

function addTrace(root: PathNode, model: TraceModel, side: 'a' | 'b') {
  const pathOf: PathNode[] = [];
  for (const node of model.nodes) {
    // Depth-first order: the parent's path node is already known.
    const parentPath = node.parent >= 0 ? pathOf[node.parent] : root;
    const childKey = `${node.service}\u0001${node.operation}`;
    let p = parentPath.children.get(childKey);
    if (!p) {
      p = newPathNode(`${parentPath.key}\u0000${childKey}`, node.service, node.operation, parentPath.depth + 1);
      parentPath.children.set(childKey, p);
    }
    p[side].count++;
    p[side].total += node.duration;
    pathOf.push(p);
  }
}

function statusOf(a: DiffSide, b: DiffSide): DiffStatus {
  if (a.count === 0) return 'added';
  if (b.count === 0) return 'removed';
  if (b.count > a.count) return 'more';
  if (b.count < a.count) return 'fewer';
  return 'same';
}

/** The merged tree, flattened depth-first; siblings by combined time, longest first. */
export function diffTraces(a: TraceModel, b: TraceModel): DiffRow[] {
  const root = newPathNode('', '', '', -1);
  addTrace(root, a, 'a');
  addTrace(root, b, 'b');
  const rows: DiffRow[] = [];
  const visit = (p: PathNode): number => {
    const kids = [...p.children.values()].sort(
      (x, y) => y.a.total + y.b.total - (x.a.total + x.b.total) || x.key.localeCompare(y.key),
    );
    let below = 0;
    for (const k of kids) {
      const at = rows.length;
      rows.push({ key: k.key, service: k.service, operation: k.operation, depth: k.depth, a: k.a, b: k.b, status: statusOf(k.a, k.b), descendants: 0 });
      const d = visit(k);
      rows[at].descendants = d;
      below += 1 + d;
    }
    return below;
  };
  visit(root);
  return rows;
}

export interface DiffSummary {
  added: number;
  removed: number;
  changed: number;
  same: number;
}

export function summarizeDiff(rows: DiffRow[]): DiffSummary {
  const s: DiffSummary = { added: 0, removed: 0, changed: 0, same: 0 };
  for (const r of rows) {
    if (r.status === 'added') s.added++;
    else if (r.status === 'removed') s.removed++;
    else if (r.status === 'same') s.same++;
    else s.changed++;
  }
  return s;
}
