// Lays out the service dependency graph with dagre (left to right). Edge labels are not given to
// dagre, which would route edges around label boxes (long detours in a dense graph); each call count
// is placed on its own edge instead, 40 % of the way from caller to callee, and the two directions
// between a pair of services run in two lanes.

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

export interface LaidGraph {
  /** Everything drawn, in layout coordinates: nodes, edges and labels. */
  bounds: Box;
  nodes: LaidNode[];
  edges: LaidEdge[];
}

export const nodeWidth = (name: string) => Math.max(90, name.length * 7.6 + 30);
export const labelWidth = (count: number) => String(count).length * 8 + 10;

export function layoutGraph(links: readonly DependencyLink[]): LaidGraph {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 110, edgesep: 14, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.parent);
    names.add(l.child);
  }
  for (const n of [...names].sort()) g.setNode(n, { width: nodeWidth(n), height: NODE_H });
  const counts = new Map<string, number>();
  for (const l of links) {
    if (l.parent === l.child) continue; // a service calling itself: in the table, not drawn
    const key = `${l.parent}\u0000${l.child}`;
    counts.set(key, (counts.get(key) ?? 0) + l.callCount);
    g.setEdge(l.parent, l.child, {});
  }
  layout(g);
  const nodes: LaidNode[] = g.nodes().map((id: string) => {
    const n = g.node(id);
    return { id, x: n.x, y: n.y, w: n.width, h: n.height };
  });
  const edges: LaidEdge[] = g.edges().map((e: { v: string; w: string }) => {
    const data = g.edge(e) as { points?: Point[] };
    const raw = data.points ?? [];
    const twoWay = counts.has(`${e.w}\u0000${e.v}`);
    const points = twoWay ? offsetPolyline(raw, LANE) : raw.map((p) => ({ x: p.x, y: p.y }));
    return { from: e.v, to: e.w, count: counts.get(`${e.v}\u0000${e.w}`) ?? 0, points, label: pointAlong(points, LABEL_AT) };
  });
  const boxes: Box[] = nodes.map((n) => ({ x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w, height: n.h }));
  for (const e of edges) boxes.push({ x: e.label.x - labelWidth(e.count) / 2, y: e.label.y - 9, width: labelWidth(e.count), height: 18 });
  const bounds = boundsOf(
    boxes,
    edges.flatMap((e) => e.points),
  );
  return { bounds, nodes, edges };
}

/** An SVG path through the points. */
export function pathOf(points: readonly Point[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}
