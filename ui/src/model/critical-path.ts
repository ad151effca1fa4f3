// The critical path: the chain of work that decided when each top-level span finished.
//
// Same walk as the Jaeger UI: start at the end of a top-level span; while the current span has a
// CHILD_OF child that finished before the point reached, the time after that child's end belongs to the
// current span, and the walk continues inside the child. When no such child is left, the time back to the
// current span's start is its own, and the walk returns to the parent at the current span's start.
// Children are first clipped to their parent's range (a child wholly outside is ignored), and
// FOLLOWS_FROM children are not waited on, so they are ignored too. The walk is a loop, not a recursion,
// so a 100k-deep chain does not overflow the stack.

import type { TraceModel } from './trace-model';

export interface CriticalSegment {
  /** Node index. */
  index: number;
  start: number;
  end: number;
}

export interface CriticalPath {
  segments: CriticalSegment[];
  /** Segments per node index. */
  byNode: Map<number, CriticalSegment[]>;
}

export function computeCriticalPath(model: TraceModel): CriticalPath {
  const nodes = model.nodes;
  const n = nodes.length;
  const clipStart = new Float64Array(n);
  const clipEnd = new Float64Array(n);
  const eligible = new Uint8Array(n);
  // Depth-first order means parents come before children.
  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    if (node.parent < 0) {
      clipStart[i] = node.start;
      clipEnd[i] = node.end;
      eligible[i] = 1;
      continue;
    }
    const p = node.parent;
    if (!eligible[p] || node.parentRefType !== 'CHILD_OF' || node.start > clipEnd[p] || node.end < clipStart[p]) continue;
    clipStart[i] = Math.max(node.start, clipStart[p]);
    clipEnd[i] = Math.min(node.end, clipEnd[p]);
    eligible[i] = 1;
  }
  // Eligible children per node, latest end first.
  const sortedKids = new Map<number, number[]>();
  const kidsOf = (i: number): number[] => {
    let kids = sortedKids.get(i);
    if (!kids) {
      kids = nodes[i].children.filter((c) => eligible[c] === 1);
      kids.sort((a, b) => clipEnd[b] - clipEnd[a] || a - b);
      sortedKids.set(i, kids);
    }
    return kids;
  };
  /** First child (latest end) ending before `bound`, or at or before it when `inclusive`. */
  const lastFinishing = (i: number, bound: number, inclusive: boolean): number => {
    const kids = kidsOf(i);
    let lo = 0;
    let hi = kids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const e = clipEnd[kids[mid]];
      if (inclusive ? e <= bound : e < bound) hi = mid;
      else lo = mid + 1;
    }
    return lo < kids.length ? kids[lo] : -1;
  };

  const segments: CriticalSegment[] = [];
  const push = (index: number, start: number, end: number) => {
    if (end > start) segments.push({ index, start, end });
  };
  for (const root of model.roots) {
    let cur = root;
    let before: number | null = null;
    for (;;) {
      const bound: number = before ?? clipEnd[cur];
      const child = lastFinishing(cur, bound, before === null);
      if (child >= 0) {
        push(cur, clipEnd[child], bound);
        cur = child;
        before = null;
        continue;
      }
      push(cur, clipStart[cur], bound);
      if (cur === root || nodes[cur].parent < 0) break;
      before = clipStart[cur];
      cur = nodes[cur].parent;
    }
  }
  const byNode = new Map<number, CriticalSegment[]>();
  for (const s of segments) {
    const list = byNode.get(s.index);
    if (list) list.push(s);
    else byNode.set(s.index, [s]);
  }
  return { segments, byNode };
}
