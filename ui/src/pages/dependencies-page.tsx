// /dependencies (System Architecture): the service dependency graph from `/api/dependencies`, laid out
// left to right with dagre, call counts on the edges, and the same data as a table.

import { layout, Graph } from '@dagrejs/dagre';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { fetchDependencies } from '../api';
import { serviceColor } from '../colors';
import { formatCount } from '../model/format';
import type { DependencyLink } from '../model/jaeger';

const LOOKBACKS: [string, number][] = [
  ['Last hour', 3600e3],
  ['Last 6 hours', 6 * 3600e3],
  ['Last 24 hours', 24 * 3600e3],
  ['Last 2 days', 2 * 86400e3],
  ['Last 7 days', 7 * 86400e3],
];

interface Laid {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number; w: number; h: number }[];
  edges: { from: string; to: string; count: number; path: string; lx: number; ly: number }[];
}

const NODE_H = 36;

function layoutGraph(links: DependencyLink[]): Laid {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 90, edgesep: 16, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.parent);
    names.add(l.child);
  }
  for (const n of names) g.setNode(n, { width: Math.max(90, n.length * 7.6 + 30), height: NODE_H });
  for (const l of links) g.setEdge(l.parent, l.child, { label: String(l.callCount), width: String(l.callCount).length * 8 + 10, height: 18, labelpos: 'c' });
  layout(g);
  const nodes = g.nodes().map((id: string) => {
    const n = g.node(id);
    return { id, x: n.x, y: n.y, w: n.width, h: n.height };
  });
  const counts = new Map(links.map((l) => [`${l.parent}\u0000${l.child}`, l.callCount]));
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const data = g.edge(e) as { points: { x: number; y: number }[]; x?: number; y?: number };
    const pts = data.points;
    const path = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const mid = pts[Math.floor(pts.length / 2)];
    return { from: e.v, to: e.w, count: counts.get(`${e.v}\u0000${e.w}`) ?? 0, path, lx: data.x ?? mid.x, ly: data.y ?? mid.y };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes, edges };
}

export function DependenciesPage() {
  const [lookback, setLookback] = useState(24 * 3600e3);
  const [links, setLinks] = useState<DependencyLink[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [focus, setFocus] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    setLinks(null);
    setError(null);
    fetchDependencies(Date.now(), lookback, ac.signal)
      .then(setLinks)
      .catch((e: Error) => e.name !== 'AbortError' && setError(e.message));
    return () => ac.abort();
  }, [lookback]);

  const laid = useMemo(() => (links && links.length > 0 ? layoutGraph(links) : null), [links]);
  const touches = (e: { from: string; to: string }) => focus === null || e.from === focus || e.to === focus;

  return (
    <div class="deps-page">
      <div class="toolbar">
        <h2>System Architecture</h2>
        <label class="inline">
          Time range
          <select value={String(lookback)} onChange={(e) => setLookback(Number((e.target as HTMLSelectElement).value))}>
            {LOOKBACKS.map(([label, ms]) => (
              <option key={ms} value={String(ms)}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {links && <span class="muted">{links.length} dependencies · click a service to highlight its calls</span>}
      </div>
      {error && (
        <div class="error-box" role="alert">
          Could not load dependencies: {error}
        </div>
      )}
      {!error && links === null && <div class="loading">Loading dependencies…</div>}
      {links && links.length === 0 && (
        <div class="empty-state">
          <p>No service calls were recorded in this time range.</p>
        </div>
      )}
      {laid && (
        <div class="deps-graph">
          <svg viewBox={`0 0 ${laid.width} ${laid.height}`} width={laid.width} height={laid.height} role="img" aria-label="Service dependency graph">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
              </marker>
            </defs>
            {laid.edges.map((e) => (
              <g key={`${e.from}->${e.to}`} class={`dep-edge${touches(e) ? '' : ' faded'}`} data-parent={e.from} data-child={e.to}>
                <path d={e.path} marker-end="url(#arrow)" />
                <rect x={e.lx - (String(e.count).length * 8 + 10) / 2} y={e.ly - 9} width={String(e.count).length * 8 + 10} height={18} rx={9} />
                <text x={e.lx} y={e.ly + 4} text-anchor="middle" class="dep-count">
                  {e.count}
                </text>
              </g>
            ))}
            {laid.nodes.map((n) => (
              <g
                key={n.id}
                class={`dep-node${focus === n.id ? ' focused' : ''}`}
                data-service={n.id}
                transform={`translate(${n.x - n.w / 2},${n.y - n.h / 2})`}
                onClick={() => setFocus((f) => (f === n.id ? null : n.id))}
              >
                <rect width={n.w} height={n.h} rx={8} style={{ stroke: serviceColor(n.id) }} />
                <rect width={6} height={n.h} rx={3} style={{ fill: serviceColor(n.id) }} />
                <text x={n.w / 2 + 3} y={n.h / 2 + 4} text-anchor="middle">
                  {n.id}
                </text>
              </g>
            ))}
          </svg>
        </div>
      )}
      {links && links.length > 0 && (
        <table class="deps-table" aria-label="Service dependencies">
          <thead>
            <tr>
              <th>Caller</th>
              <th>Callee</th>
              <th class="num">Calls</th>
            </tr>
          </thead>
          <tbody>
            {[...links]
              .sort((x, y) => y.callCount - x.callCount)
              .map((l) => (
                <tr key={`${l.parent}->${l.child}`}>
                  <td>{l.parent}</td>
                  <td>{l.child}</td>
                  <td class="num">{formatCount(l.callCount)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
