// Turns a Jaeger trace into the tree the trace view draws.
//
// Parentage: a span's parent is the first CHILD_OF reference (else the first FOLLOWS_FROM) that points at
// a span of the same trace which is present. A span that names a parent in this trace which is absent is
// an *orphan*: it is shown at the top level and flagged with the missing ID, never re-rooted silently.
// References to other traces are links, not parents. Spans caught in a reference cycle are cut loose
// at their earliest member and flagged the same way.
//
// Nodes are stored in depth-first order with children sorted by start time, so a node's subtree is the
// contiguous range [index, index + subtreeSize) — collapsing a subtree is a jump, not a walk.

import { type JaegerSpan, type JaegerTrace, serviceOf } from './jaeger';
import { kindFromTagValue } from './span-facts';

export interface SpanNode {
  /** Position in TraceModel.nodes (depth-first order). */
  index: number;
  span: JaegerSpan;
  spanID: string;
  service: string;
  operation: string;
  /** Absolute start, µs since the epoch. */
  start: number;
  duration: number;
  end: number;
  /** Index of the parent node, -1 for roots and orphans. */
  parent: number;
  /** How this span hangs off its parent; null at the top level. */
  parentRefType: 'CHILD_OF' | 'FOLLOWS_FROM' | null;
  children: readonly number[];
  depth: number;
  /** Nodes in this subtree, this node included. */
  subtreeSize: number;
  /** The parent span ID this span names but which is not in the trace (orphans only). */
  missingParent: string | null;
  hasError: boolean;
  kind: string | null;
}

export interface ServiceSummary {
  name: string;
  spanCount: number;
  errorCount: number;
}

export interface TraceModel {
  traceID: string;
  trace: JaegerTrace;
  nodes: SpanNode[];
  /** Top-level nodes: true roots and orphans, by start time. */
  roots: number[];
  start: number;
  end: number;
  duration: number;
  /** Deepest level, 1 for a single span. */
  depth: number;
  services: ServiceSummary[];
  rootService: string;
  rootOperation: string;
  errorCount: number;
  orphanCount: number;
  /** Trace-level warnings, including the ones this model found (duplicate IDs, cycles). */
  warnings: string[];
  /** First node index for each span ID. */
  byId: Map<string, number>;
}

interface ParentChoice {
  parent: number;
  refType: 'CHILD_OF' | 'FOLLOWS_FROM' | null;
  missing: string | null;
}

function chooseParent(span: JaegerSpan, self: number, traceID: string, idIndex: Map<string, number>, out: ParentChoice): void {
  out.parent = -1;
  out.refType = null;
  out.missing = null;
  const refs = span.references;
  if (!refs || refs.length === 0) return;
  // CHILD_OF first, then FOLLOWS_FROM; only references into this trace can be parents.
  for (let pass = 0; pass < 2; pass++) {
    const wanted = pass === 0 ? 'CHILD_OF' : 'FOLLOWS_FROM';
    for (let r = 0; r < refs.length; r++) {
      const ref = refs[r];
      if (ref.refType !== wanted) continue;
      if (ref.traceID && ref.traceID !== traceID && !sameTraceId(ref.traceID, traceID)) continue;
      const p = idIndex.get(ref.spanID);
      if (p !== undefined && p !== self) {
        out.parent = p;
        out.refType = wanted;
        out.missing = null;
        return;
      }
      if (out.missing === null) out.missing = ref.spanID;
    }
  }
}

const NO_CHILDREN: number[] = [];

/** Trace IDs compare equal when they differ only by leading zeros (64- vs 128-bit IDs). */
export function sameTraceId(a: string, b: string): boolean {
  return a.replace(/^0+/, '').toLowerCase() === b.replace(/^0+/, '').toLowerCase();
}

export function buildTraceModel(trace: JaegerTrace): TraceModel {
  const spans = trace.spans ?? [];
  const n = spans.length;
  const warnings: string[] = [...(trace.warnings ?? [])];

  const idIndex = new Map<string, number>();
  let duplicates = 0;
  for (let i = 0; i < n; i++) {
    const id = spans[i].spanID;
    if (idIndex.has(id)) duplicates++;
    else idIndex.set(id, i);
  }
  if (duplicates > 0) warnings.push(`${duplicates} span(s) reuse a span ID already in this trace`);

  const parentOf = new Int32Array(n);
  // Arrays grown by push: `new Array(n)` of 100k or more is a slow dictionary-mode array in V8.
  const refTypeOf: ParentChoice['refType'][] = [];
  const missingOf: (string | null)[] = [];
  // Leaves (most spans) share one empty child list; it is never written to.
  const childLists: number[][] = [];
  for (let i = 0; i < n; i++) childLists.push(NO_CHILDREN);
  const tops: number[] = [];
  const choice: ParentChoice = { parent: -1, refType: null, missing: null };
  for (let i = 0; i < n; i++) {
    chooseParent(spans[i], i, trace.traceID, idIndex, choice);
    parentOf[i] = choice.parent;
    refTypeOf.push(choice.refType);
    missingOf.push(choice.missing);
    if (choice.parent >= 0) {
      const list = childLists[choice.parent];
      if (list === NO_CHILDREN) childLists[choice.parent] = [i];
      else list.push(i);
    } else tops.push(i);
  }
  const byStart = (a: number, b: number) => spans[a].startTime - spans[b].startTime || a - b;
  for (const list of childLists) if (list.length > 1) list.sort(byStart);
  tops.sort(byStart);

  // Depth-first order from the top-level spans; whatever stays unvisited sits in a cycle.
  const order: number[] = [];
  const depthOf = new Int32Array(n);
  const visited = new Uint8Array(n);
  const walk = (start: number, depth: number) => {
    const stack: number[] = [start];
    depthOf[start] = depth;
    while (stack.length > 0) {
      const i = stack.pop() as number;
      if (visited[i]) continue;
      visited[i] = 1;
      order.push(i);
      const kids = childLists[i];
      for (let k = kids.length - 1; k >= 0; k--) {
        if (!visited[kids[k]]) {
          depthOf[kids[k]] = depthOf[i] + 1;
          stack.push(kids[k]);
        }
      }
    }
  };
  for (const t of tops) walk(t, 0);
  if (order.length < n) {
    const left: number[] = [];
    for (let i = 0; i < n; i++) if (!visited[i]) left.push(i);
    left.sort(byStart);
    let cut = 0;
    for (const i of left) {
      if (visited[i]) continue;
      const p = parentOf[i];
      if (p >= 0) childLists[p] = childLists[p].filter((c) => c !== i);
      missingOf[i] = p >= 0 ? spans[p].spanID : missingOf[i];
      parentOf[i] = -1;
      refTypeOf[i] = null;
      tops.push(i);
      walk(i, 0);
      cut++;
    }
    tops.sort(byStart);
    warnings.push(`${cut} span(s) were cut out of a reference cycle`);
  }

  const newIndex = new Int32Array(n);
  for (let k = 0; k < n; k++) newIndex[order[k]] = k;

  let traceStart = Infinity;
  let traceEnd = -Infinity;
  let maxDepth = 0;
  let errorCount = 0;
  let orphanCount = 0;
  const services = new Map<string, ServiceSummary>();
  const nodes: SpanNode[] = [];
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const span = spans[i];
    const service = serviceOf(trace, span);
    // One pass over the tags for the error flag and the span kind.
    let hasError = false;
    let kind: string | null = null;
    const tags = span.tags;
    if (tags) {
      for (let t = 0; t < tags.length; t++) {
        const tag = tags[t];
        const key = tag.key;
        if (key === 'span.kind') kind = kindFromTagValue(tag.value) ?? kind;
        else if (key === 'error') hasError = hasError || tag.value === true || tag.value === 'true';
        else if (key === 'otel.status_code') hasError = hasError || tag.value === 'ERROR';
      }
    }
    const start = span.startTime;
    const duration = Math.max(0, span.duration || 0);
    const kids = childLists[i];
    for (let c = 0; c < kids.length; c++) kids[c] = newIndex[kids[c]];
    const node: SpanNode = {
      index: k,
      span,
      spanID: span.spanID,
      service,
      operation: span.operationName,
      start,
      duration,
      end: start + duration,
      parent: parentOf[i] >= 0 ? newIndex[parentOf[i]] : -1,
      parentRefType: refTypeOf[i],
      children: kids,
      depth: depthOf[i],
      subtreeSize: 1,
      missingParent: parentOf[i] >= 0 ? null : missingOf[i],
      hasError,
      kind,
    };
    nodes.push(node);
    if (start < traceStart) traceStart = start;
    if (node.end > traceEnd) traceEnd = node.end;
    if (node.depth + 1 > maxDepth) maxDepth = node.depth + 1;
    if (hasError) errorCount++;
    if (node.missingParent !== null) orphanCount++;
    let s = services.get(service);
    if (!s) services.set(service, (s = { name: service, spanCount: 0, errorCount: 0 }));
    s.spanCount++;
    if (hasError) s.errorCount++;
  }
  for (let k = n - 1; k >= 0; k--) {
    const p = nodes[k].parent;
    if (p >= 0) nodes[p].subtreeSize += nodes[k].subtreeSize;
  }
  // Re-point the ID index at depth-first positions (updating keys in place is cheaper than a new map).
  const byId = idIndex;
  for (const [id, i] of idIndex) byId.set(id, newIndex[i]);
  if (orphanCount > 0) warnings.push(`${orphanCount} span(s) reference a parent that is not in this trace`);

  const roots = tops.map((t) => newIndex[t]);
  const main = roots.find((r) => nodes[r].missingParent === null) ?? roots[0];
  if (n === 0) {
    traceStart = 0;
    traceEnd = 0;
  }
  return {
    traceID: trace.traceID,
    trace,
    nodes,
    roots,
    start: traceStart,
    end: traceEnd,
    duration: traceEnd - traceStart,
    depth: maxDepth,
    services: [...services.values()],
    rootService: main === undefined ? '' : nodes[main].service,
    rootOperation: main === undefined ? '' : nodes[main].operation,
    errorCount,
    orphanCount,
    warnings,
    byId,
  };
}

/**
 * The rows to draw when the nodes in `collapsed` hide their subtrees: indices in depth-first order.
 * Runs in time proportional to the rows shown plus the collapsed nodes skipped.
 */
export function visibleRows(model: TraceModel, collapsed: ReadonlySet<number>): Int32Array {
  const nodes = model.nodes;
  const out = new Int32Array(nodes.length);
  let count = 0;
  let i = 0;
  while (i < nodes.length) {
    out[count++] = i;
    i += collapsed.has(i) ? nodes[i].subtreeSize : 1;
  }
  return out.subarray(0, count);
}

/** Ancestors of a node, nearest first. */
export function ancestorsOf(model: TraceModel, index: number): number[] {
  const out: number[] = [];
  let p = model.nodes[index]?.parent ?? -1;
  while (p >= 0) {
    out.push(p);
    p = model.nodes[p].parent;
  }
  return out;
}

/** Collapse state after "collapse one level": hides the deepest level currently shown. */
export function collapseOneLevel(model: TraceModel, collapsed: ReadonlySet<number>): Set<number> {
  const rows = visibleRows(model, collapsed);
  let deepestOpen = -1;
  for (const i of rows) {
    const node = model.nodes[i];
    if (node.children.length > 0 && !collapsed.has(i) && node.depth > deepestOpen) deepestOpen = node.depth;
  }
  const next = new Set(collapsed);
  if (deepestOpen < 0) return next;
  for (const i of rows) {
    const node = model.nodes[i];
    if (node.depth === deepestOpen && node.children.length > 0) next.add(i);
  }
  return next;
}

/** Collapse state after "expand one level": opens the shallowest collapsed level shown. */
export function expandOneLevel(model: TraceModel, collapsed: ReadonlySet<number>): Set<number> {
  const rows = visibleRows(model, collapsed);
  let shallowest = Infinity;
  for (const i of rows) if (collapsed.has(i) && model.nodes[i].depth < shallowest) shallowest = model.nodes[i].depth;
  const next = new Set(collapsed);
  for (const i of rows) if (collapsed.has(i) && model.nodes[i].depth === shallowest) next.delete(i);
  return next;
}

export function collapseAll(model: TraceModel): Set<number> {
  const next = new Set<number>();
  for (const node of model.nodes) if (node.children.length > 0) next.add(node.index);
  return next;
}
