// A small SVG line of one series (no chart library); the newest value is marked with a dot.

import { type Series, sparklinePath } from '../model/monitor';

export function Sparkline({ series, label, color = 'var(--accent)', width = 120, height = 28 }: { series: Series; label: string; color?: string; width?: number; height?: number }) {
  const d = sparklinePath(series, width, height);
  const end = /(-?[\d.]+),(-?[\d.]+)$/.exec(d);
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`-2 -2 ${width + 4} ${height + 4}`} role="img" aria-label={label} data-points={series.points.length}>
      <line x1={0} y1={height} x2={width} y2={height} stroke="var(--grid)" />
      {d && <path d={d} fill="none" stroke={color} stroke-width={1.5} stroke-linejoin="round" />}
      {end && <circle cx={Number(end[1])} cy={Number(end[2])} r={2} fill={color} />}
    </svg>
  );
}
