// /dependencies (System Architecture): the service dependency graph from `/api/dependencies`, laid out
// left to right with dagre and fitted into its frame; drag to pan, wheel or buttons to zoom, "Fit" to
// reset. Focusing a service (click it, or pick it in the list) shows only its callers and callees.
// The same data is listed as a table.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { fetchDependencies } from '../api';
import { serviceColor } from '../colors';
import { formatCount } from '../model/format';
import { labelWidth, layoutGraph, pathOf } from '../model/graph-layout';
import { fitView, neighbourhood, panBy, servicesOf, type View, wheelFactor, zoomAt } from '../model/graph-view';
import type { DependencyLink } from '../model/jaeger';

const LOOKBACKS: [string, number][] = [
  ['Last hour', 3600e3],
  ['Last 6 hours', 6 * 3600e3],
  ['Last 24 hours', 24 * 3600e3],
  ['Last 2 days', 2 * 86400e3],
  ['Last 7 days', 7 * 86400e3],
];

const FRAME_H = 520;
/** A press that moves less than this (px) is a click, not a drag. */
const CLICK_SLOP = 4;

function GraphFrame({ links, focus, onFocus }: { links: DependencyLink[]; focus: string | null; onFocus: (s: string | null) => void }) {
  const laid = useMemo(() => layoutGraph(links, focus), [links, focus]);
  const frame = useRef<SVGSVGElement>(null);
  const [size, setSize] = useState({ w: 0, h: FRAME_H });
  const [view, setView] = useState<View | null>(null);
  const drag = useRef<{ x: number; y: number; moved: boolean; id: number } | null>(null);

  useLayoutEffect(() => {
    const el = frame.current;
    if (!el) return undefined;
    const measure = () => setSize({ w: el.clientWidth, h: el.clientHeight || FRAME_H });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const fit = useCallback(() => setView(fitView(laid.bounds, size.w, size.h)), [laid, size.w, size.h]);
  // Fit whenever the graph (another time range, another focus) or the frame's size changes.
  useLayoutEffect(() => {
    if (size.w > 0) fit();
  }, [fit, size.w]);

  useEffect(() => {
    const el = frame.current;
    if (!el) return undefined;
    // Not passive: the wheel zooms the graph instead of scrolling the page.
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const r = el.getBoundingClientRect();
      setView((v) => v && zoomAt(v, wheelFactor(e.deltaY), e.clientX - r.left, e.clientY - r.top));
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, []);

  const zoomBy = (factor: number) => setView((v) => v && zoomAt(v, factor, size.w / 2, size.h / 2));

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    drag.current = { x: e.clientX, y: e.clientY, moved: false, id: e.pointerId };
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d || d.id !== e.pointerId) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.hypot(dx, dy) < CLICK_SLOP) return;
    if (!d.moved) frame.current?.setPointerCapture(e.pointerId);
    d.moved = true;
    d.x = e.clientX;
    d.y = e.clientY;
    setView((v) => v && panBy(v, dx, dy));
  };
  const wasDrag = useRef(false);
  const onPointerUp = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    wasDrag.current = d?.moved ?? false;
    if (d?.moved) frame.current?.releasePointerCapture(e.pointerId);
  };
  // The click that ends a drag is not a click on a node.
  const onClickCapture = (e: MouseEvent) => {
    if (wasDrag.current) e.stopPropagation();
    wasDrag.current = false;
  };

  return (
    <div class="deps-graph">
      <div class="deps-zoom" role="group" aria-label="Zoom">
        <button type="button" onClick={() => zoomBy(1.25)} aria-label="Zoom in" title="Zoom in (or scroll)">
          +
        </button>
        <button type="button" onClick={() => zoomBy(0.8)} aria-label="Zoom out" title="Zoom out (or scroll)">
          −
        </button>
        <button type="button" onClick={fit} aria-label="Fit to frame" title="Fit the graph to the frame">
          Fit
        </button>
      </div>
      <svg
        ref={frame}
        class="deps-frame"
        width="100%"
        height={FRAME_H}
        role="img"
        aria-label="Service dependency graph"
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
        onClickCapture={onClickCapture}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
          </marker>
        </defs>
        {view && (
          <g class="dep-viewport" data-layout={laid.kind} transform={`translate(${view.x.toFixed(2)},${view.y.toFixed(2)}) scale(${view.k.toFixed(4)})`} data-scale={view.k.toFixed(4)}>
            {laid.edges.map((e) => (
              <g key={`${e.from}->${e.to}`} class="dep-edge" data-parent={e.from} data-child={e.to}>
                <path d={pathOf(e.points)} marker-end="url(#arrow)" />
              </g>
            ))}
            {laid.edges.map((e) => (
              <g key={`${e.from}->${e.to}-label`} class="dep-label" data-parent={e.from} data-child={e.to}>
                <rect x={e.label.x - labelWidth(e.count) / 2} y={e.label.y - 9} width={labelWidth(e.count)} height={18} rx={9} />
                <text x={e.label.x} y={e.label.y + 4} text-anchor="middle" class="dep-count">
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
                onClick={() => onFocus(focus === n.id ? null : n.id)}
              >
                <title>{focus === n.id ? `${n.id}: click to show all services` : `${n.id}: click to show only its calls`}</title>
                <rect width={n.w} height={n.h} rx={8} style={{ stroke: serviceColor(n.id) }} />
                <rect width={6} height={n.h} rx={3} style={{ fill: serviceColor(n.id) }} />
                <text x={n.w / 2 + 3} y={n.h / 2 + 4} text-anchor="middle">
                  {n.id}
                </text>
              </g>
            ))}
          </g>
        )}
      </svg>
    </div>
  );
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

  const services = useMemo(() => (links ? servicesOf(links) : []), [links]);
  const focused = focus !== null && services.includes(focus) ? focus : null;
  const shown = useMemo(() => (links ? neighbourhood(links, focused) : []), [links, focused]);

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
        {services.length > 0 && (
          <label class="inline">
            Focus
            <select name="focus" value={focused ?? ''} onChange={(e) => setFocus((e.target as HTMLSelectElement).value || null)}>
              <option value="">All services</option>
              {services.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        )}
        {focused !== null && (
          <button type="button" onClick={() => setFocus(null)}>
            Show all
          </button>
        )}
        {links && (
          <span class="muted deps-summary">
            {focused === null
              ? `${services.length} services · ${links.length} dependencies · drag to pan, scroll to zoom, click a service to focus it`
              : `${shown.length} of ${links.length} dependencies: the calls into and out of ${focused}`}
          </span>
        )}
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
      {shown.length > 0 && <GraphFrame links={shown} focus={focused} onFocus={setFocus} />}
      {shown.length > 0 && (
        <table class="deps-table" aria-label="Service dependencies">
          <thead>
            <tr>
              <th>Caller</th>
              <th>Callee</th>
              <th class="num">Calls</th>
            </tr>
          </thead>
          <tbody>
            {[...shown]
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
