// The minimap above the timeline: every span drawn as a thin line on a canvas (depth-first order top to
// bottom), the current view window shaded, and drag-to-zoom: drag across it to show only that time range.

import { useEffect, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../colors';
import { formatDuration, timeTicks } from '../model/format';
import type { TraceModel } from '../model/trace-model';
import type { ViewRange } from './waterfall';

interface Props {
  model: TraceModel;
  view: ViewRange;
  onView: (view: ViewRange) => void;
}

const HEIGHT = 64;

export function Minimap({ model, view, onView }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [drag, setDrag] = useState<{ from: number; to: number } | null>(null);
  const [width, setWidth] = useState(0);
  const total = model.duration || 1;

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.floor(width * dpr);
    c.height = Math.floor(HEIGHT * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, width, HEIGHT);
    const n = model.nodes.length;
    const rowH = HEIGHT / Math.max(n, 1);
    const h = Math.max(rowH, 1);
    let lastColor = '';
    for (let i = 0; i < n; i++) {
      const node = model.nodes[i];
      const color = node.hasError ? '#d64545' : serviceColor(node.service);
      if (color !== lastColor) {
        ctx.fillStyle = color;
        lastColor = color;
      }
      const x = ((node.start - model.start) / total) * width;
      ctx.fillRect(x, i * rowH, Math.max((node.duration / total) * width, 1), h);
    }
  }, [model, width]);

  const toTime = (clientX: number) => {
    const rect = (box.current as HTMLDivElement).getBoundingClientRect();
    const x = Math.min(Math.max(clientX - rect.left, 0), rect.width);
    return (x / rect.width) * total;
  };
  const onDown = (e: MouseEvent) => {
    if (e.button !== 0) return;
    e.preventDefault();
    const from = toTime(e.clientX);
    setDrag({ from, to: from });
    const move = (ev: MouseEvent) => setDrag({ from, to: toTime(ev.clientX) });
    const up = (ev: MouseEvent) => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      const to = toTime(ev.clientX);
      setDrag(null);
      const lo = Math.min(from, to);
      const hi = Math.max(from, to);
      if (hi - lo > total / 500) onView({ start: lo, end: hi });
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };

  const zoomed = view.start > 0 || view.end < total;
  const pctOf = (t: number) => `${((t / total) * 100).toFixed(3)}%`;
  return (
    <div class="minimap">
      <div class="minimap-ticks">
        {timeTicks(total, 6).map((t) => (
          <span key={t} style={{ left: pctOf(t) }}>
            {formatDuration(t)}
          </span>
        ))}
      </div>
      <div class="minimap-box" ref={box} onMouseDown={onDown} title="Drag to zoom into a time range; double-click to reset" onDblClick={() => onView({ start: 0, end: total })}>
        <canvas ref={canvas} style={{ width: '100%', height: `${HEIGHT}px` }} />
        {zoomed && (
          <>
            <div class="minimap-shade" style={{ left: 0, width: pctOf(view.start) }} />
            <div class="minimap-shade" style={{ left: pctOf(view.end), right: 0 }} />
            <div class="minimap-window" style={{ left: pctOf(view.start), width: pctOf(view.end - view.start) }} />
          </>
        )}
        {drag && <div class="minimap-drag" style={{ left: pctOf(Math.min(drag.from, drag.to)), width: pctOf(Math.abs(drag.to - drag.from)) }} />}
      </div>
    </div>
  );
}
