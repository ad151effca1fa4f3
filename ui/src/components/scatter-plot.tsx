// Duration against start time for the search results (uPlot). Error traces are red; clicking a point
// opens its trace. The time axis spans the points (at least a minute, a single point centred).

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatDuration, formatTimestamp } from '../model/format';
import { durationAxisRange, timeAxisRange } from '../model/plot-range';
import type { TraceSummary } from '../model/trace-summary';

interface Props {
  traces: TraceSummary[];
  onOpen: (traceID: string) => void;
}

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

export function ScatterPlot({ traces, onOpen }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = host.current;
    if (!el || traces.length === 0) return undefined;
    const sorted = [...traces].sort((a, b) => a.start - b.start);
    const xs = sorted.map((t) => t.start / 1e6);
    const ok = sorted.map((t) => (t.errorCount > 0 ? null : t.duration / 1000));
    const bad = sorted.map((t) => (t.errorCount > 0 ? t.duration / 1000 : null));
    const noLine = () => null;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 170,
      legend: { show: false },
      // The drawn time range, for tests and tools: seconds since the epoch.
      hooks: {
        draw: [
          (u) => {
            el.dataset.xMin = String(u.scales.x.min);
            el.dataset.xMax = String(u.scales.x.max);
          },
        ],
      },
      cursor: { drag: { x: false, y: false }, points: { show: false }, x: false, y: false },
      scales: {
        // From the points themselves: uPlot's own range for one point spans 1,000 days.
        x: { time: true, range: (_u, min, max) => timeAxisRange(xs) ?? [min, max] },
        y: { auto: true, range: (_u, _min, max) => durationAxisRange(max) },
      },
      series: [
        {},
        { label: 'traces', stroke: () => cssVar('--accent'), paths: noLine, points: { show: true, size: 8, space: 0, fill: () => cssVar('--accent-soft') } },
        { label: 'errors', stroke: () => cssVar('--error'), paths: noLine, points: { show: true, size: 8, space: 0, fill: () => cssVar('--error-soft') } },
      ],
      axes: [
        { stroke: () => cssVar('--text-muted'), grid: { stroke: () => cssVar('--grid'), width: 1 }, ticks: { show: false } },
        {
          stroke: () => cssVar('--text-muted'),
          grid: { stroke: () => cssVar('--grid'), width: 1 },
          ticks: { show: false },
          size: 64,
          values: (_u, vals) => vals.map((v) => formatDuration(v * 1000)),
        },
      ],
    };
    const plot = new uPlot(opts, [xs, ok, bad], el);

    const nearest = (e: MouseEvent): number => {
      const rect = plot.over.getBoundingClientRect();
      const mx = e.clientX - rect.left;
      const my = e.clientY - rect.top;
      let best = -1;
      let bestD = 12 * 12;
      for (let i = 0; i < sorted.length; i++) {
        const px = plot.valToPos(xs[i], 'x');
        const py = plot.valToPos(sorted[i].duration / 1000, 'y');
        const d = (px - mx) ** 2 + (py - my) ** 2;
        if (d <= bestD) {
          bestD = d;
          best = i;
        }
      }
      return best;
    };
    const onMove = (e: MouseEvent) => {
      const i = nearest(e);
      plot.over.style.cursor = i >= 0 ? 'pointer' : 'default';
      const t = tip.current;
      if (!t) return;
      if (i < 0) {
        t.hidden = true;
        return;
      }
      const s = sorted[i];
      t.hidden = false;
      t.textContent = `${s.name} · ${formatDuration(s.duration)} · ${s.spanCount} spans · ${formatTimestamp(s.start)}`;
      const rect = el.getBoundingClientRect();
      t.style.left = `${Math.min(e.clientX - rect.left + 12, rect.width - 260)}px`;
      t.style.top = `${e.clientY - rect.top + 12}px`;
    };
    const onLeave = () => {
      if (tip.current) tip.current.hidden = true;
    };
    const onClick = (e: MouseEvent) => {
      const i = nearest(e);
      if (i >= 0) onOpen(sorted[i].traceID);
    };
    plot.over.addEventListener('mousemove', onMove);
    plot.over.addEventListener('mouseleave', onLeave);
    plot.over.addEventListener('click', onClick);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: 170 }));
    ro.observe(el);
    // Colours come from CSS variables: redraw when the theme changes.
    const mo = new MutationObserver(() => plot.redraw(false, true));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => {
      mo.disconnect();
      ro.disconnect();
      plot.destroy();
    };
  }, [traces, onOpen]);

  if (traces.length === 0) return null;
  return (
    <div class="scatter" aria-label="Trace durations over time">
      <div ref={host} class="scatter-plot" />
      <div ref={tip} class="scatter-tip" hidden />
    </div>
  );
}
