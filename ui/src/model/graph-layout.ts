// Lays out the service dependency graph. A sparse graph (the usual tree of calls) is layered left to
// right by dagre; a dense one (more than DENSE_EDGES_PER_NODE calls per service) is a ring of services
// with straight edges, which dagre would stretch into long rank chains; one service's neighbourhood
// (focus) is that service in the middle with its callers and callees around it.
// Edge labels are not given to dagre, which would route edges around label boxes (long detours);
// each call count is placed on its own edge instead, 40 % of the way from caller to callee, and the
// two directions between a pair of services run in two lanes.

import { Graph, layout } from '@dagrejs/dagre';
import { type Box, boundsOf, offsetPolyline, type Point, pointAlong } from './graph-view';
import type { DependencyLink } from './jaeger';

export const NODE_H = 36;
/** How far the calls a→b and b→a are drawn apart, each to its right. */
export const LANE = 5;
/** Where along its edge (from the caller) a call count sits. */
export const LABEL_AT = 0.4;

export interface LaidNode {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LaidEdge {
  from: string;
  to: string;
  count: number;
  points: Point[];
  label: Point;
}

export type LayoutKind = 'layered' | 'ring' | 'radial';

/** A graph with more calls than this per service is drawn as a ring. */
export const DENSE_EDGES_PER_NODE = 3;

export interface LaidGraph {
  kind: LayoutKind;
  /** Everything drawn, in layout coordinates: nodes, edges and labels. */
  bounds: Box;
  nodes: LaidNode[];
  edges: LaidEdge[];
}

export const nodeWidth = (name: string) => Math.max(90, name.length * 7.6 + 30);
export const labelWidth = (count: number) => String(count).length * 8 + 10;

/** Call counts per (caller, callee), without self-calls, which are listed but not drawn. */
function callCounts(links: readonly DependencyLink[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of links) {
    if (l.parent === l.child) continue;
    const key = `${l.parent}\u0000${l.child}`;
    counts.set(key, (counts.get(key) ?? 0) + l.callCount);
  }
  return counts;
}

/** Lays out `links`; with `focus`, as that service's neighbourhood around it. */
export function layoutGraph(links: readonly DependencyLink[], focus: string | null = null): LaidGraph {
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.parent);
    names.add(l.child);
  }
  const sorted = [...names].sort();
  const counts = callCounts(links);
  if (focus !== null && names.has(focus)) return ringLayout(sorted, counts, focus);
  if (counts.size > DENSE_EDGES_PER_NODE * sorted.length) return ringLayout(sorted, counts, null);
  return layeredLayout(sorted, counts);
}

function layeredLayout(names: string[], counts: Map<string, number>): LaidGraph {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 110, edgesep: 14, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of names) g.setNode(n, { width: nodeWidth(n), height: NODE_H });
  for (const key of counts.keys()) {
    const [from, to] = key.split('\u0000');
    g.setEdge(from, to, {});
  }
  layout(g);
  const nodes: LaidNode[] = g.nodes().map((id: string) => {
    const n = g.node(id);
    return { id, x: n.x, y: n.y, w: n.width, h: n.height };
  });
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const data = g.edge(e) as { points?: Point[] };
    return finishEdge(e.v, e.w, data.points ?? [], counts);
  });
  return finish('layered', nodes, edges);
}

/**
 * Services on an ellipse with straight edges; with `centre`, that service in the middle and the
 * others around it.
 */
function ringLayout(names: string[], counts: Map<string, number>, centre: string | null): LaidGraph {
  const around = names.filter((n) => n !== centre);
  const m = Math.max(around.length, 1);
  const widest = Math.max(90, ...around.map(nodeWidth));
  // Neighbours on the ellipse must not overlap: the chord between them is 2 r sin(π/m).
  const sin = Math.sin(Math.PI / Math.max(m, 2));
  const base = centre === null ? 0 : nodeWidth(centre) / 2 + widest / 2 + 90;
  const rx = Math.max(base, 200, ((widest + 60) / (2 * sin)) * 1.1);
  const ry = Math.max(centre === null ? 0 : NODE_H + 90, 120, (NODE_H + 44) / (2 * sin), rx * 0.5);
  const nodes: LaidNode[] = around.map((id, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / m;
    return { id, x: rx * Math.cos(a), y: ry * Math.sin(a), w: nodeWidth(id), h: NODE_H };
  });
  if (centre !== null) nodes.push({ id: centre, x: 0, y: 0, w: nodeWidth(centre), h: NODE_H });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges: LaidEdge[] = [];
  for (const key of counts.keys()) {
    const [from, to] = key.split('\u0000');
    const a = byId.get(from);
    const b = byId.get(to);
    if (a && b) edges.push(finishEdge(from, to, [clipToNode(a, b), clipToNode(b, a)], counts));
  }
  return finish(centre === null ? 'ring' : 'radial', nodes, edges);
}

/** Where the segment from `a`'s centre to `b`'s centre leaves `a`'s box. */
export function clipToNode(a: LaidNode, b: LaidNode): Point {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  if (dx === 0 && dy === 0) return { x: a.x, y: a.y };
  const t = Math.min(dx === 0 ? Infinity : a.w / 2 / Math.abs(dx), dy === 0 ? Infinity : a.h / 2 / Math.abs(dy));
  return { x: a.x + dx * t, y: a.y + dy * t };
}

function finishEdge(from: string, to: string, raw: readonly Point[], counts: Map<string, number>): LaidEdge {
  const twoWay = counts.has(`${to}\u0000${from}`);
  const points = twoWay ? offsetPolyline(raw, LANE) : raw.map((p) => ({ x: p.x, y: p.y }));
  return { from, to, count: counts.get(`${from}\u0000${to}`) ?? 0, points, label: pointAlong(points, LABEL_AT) };
}

function finish(kind: LayoutKind, nodes: LaidNode[], edges: LaidEdge[]): LaidGraph {
  const boxes: Box[] = nodes.map((n) => ({ x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w, height: n.h }));
  for (const e of edges) boxes.push({ x: e.label.x - labelWidth(e.count) / 2, y: e.label.y - 9, width: labelWidth(e.count), height: 18 });
  return {
    kind,
    bounds: boundsOf(
      boxes,
      edges.flatMap((e) => e.points),
    ),
    nodes,
    edges,
  };
}

/** An SVG path through the points. */
export function pathOf(points: readonly Point[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}
