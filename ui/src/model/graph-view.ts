// Geometry of the dependency graph view: fitting the laid-out graph into its frame, zoom around a
// point, panning, one service's neighbourhood, and where an edge's label goes. Pure functions; the
// page keeps a View and renders `translate(x, y) scale(k)`.

import type { DependencyLink } from './jaeger';

/** A screen position is `world * k + (x, y)`. */
export interface View {
  k: number;
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export const MIN_SCALE = 0.1;
export const MAX_SCALE = 4;
/** Fitting never enlarges a small graph beyond this. */
export const MAX_FIT_SCALE = 1.5;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The view that shows all of `content` centred in a `width` × `height` frame, `padding` inside. */
export function fitView(content: Box, width: number, height: number, padding = 24): View {
  const w = Math.max(content.width, 1);
  const h = Math.max(content.height, 1);
  const availW = Math.max(width - 2 * padding, 1);
  const availH = Math.max(height - 2 * padding, 1);
  const k = clamp(Math.min(availW / w, availH / h), MIN_SCALE / 10, MAX_FIT_SCALE);
  return {
    k,
    x: width / 2 - (content.x + w / 2) * k,
    y: height / 2 - (content.y + h / 2) * k,
  };
}

/** Zooms by `factor` keeping the world point under screen point (px, py) where it is. */
export function zoomAt(view: View, factor: number, px: number, py: number): View {
  const k = clamp(view.k * factor, Math.min(MIN_SCALE, view.k), Math.max(MAX_SCALE, view.k));
  const f = k / view.k;
  return { k, x: px - (px - view.x) * f, y: py - (py - view.y) * f };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { k: view.k, x: view.x + dx, y: view.y + dy };
}

/** Where a world box lands on screen. */
export function project(view: View, box: Box): Box {
  return { x: box.x * view.k + view.x, y: box.y * view.k + view.y, width: box.width * view.k, height: box.height * view.k };
}

/** The wheel's zoom factor: a notch (deltaY ±100) zooms by about 15 %. */
export function wheelFactor(deltaY: number): number {
  return Math.exp(-clamp(deltaY, -300, 300) * 0.0014);
}

/** The bounding box of boxes and points; an empty box at 0,0 when there are none. */
export function boundsOf(boxes: readonly Box[], points: readonly Point[] = []): Box {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const b of boxes) {
    x0 = Math.min(x0, b.x);
    y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.width);
    y1 = Math.max(y1, b.y + b.height);
  }
  for (const p of points) {
    x0 = Math.min(x0, p.x);
    y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x);
    y1 = Math.max(y1, p.y);
  }
  if (x0 > x1) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The calls into and out of `service` (its neighbourhood); every link when `service` is null. */
export function neighbourhood(links: readonly DependencyLink[], service: string | null): DependencyLink[] {
  if (service === null) return [...links];
  return links.filter((l) => l.parent === service || l.child === service);
}

/** The services of some links, sorted. */
export function servicesOf(links: readonly DependencyLink[]): string[] {
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.parent);
    names.add(l.child);
  }
  return [...names].sort();
}

/** The point at fraction `t` of a polyline's length. */
export function pointAlong(points: readonly Point[], t: number): Point {
  if (points.length === 0) return { x: 0, y: 0 };
  if (points.length === 1) return points[0];
  let total = 0;
  for (let i = 1; i < points.length; i++) total += Math.hypot(points[i].x - points[i - 1].x, points[i].y - points[i - 1].y);
  let left = clamp(t, 0, 1) * total;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    if (left <= d && d > 0) {
      const f = left / d;
      return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f };
    }
    left -= d;
  }
  return points[points.length - 1];
}

/**
 * Shifts a polyline sideways by `d` (to the right of its direction of travel), so that the calls
 * a→b and b→a, which dagre routes along one line, run in two lanes.
 */
export function offsetPolyline(points: readonly Point[], d: number): Point[] {
  if (points.length < 2 || d === 0) return points.map((p) => ({ ...p }));
  const first = points[0];
  const last = points[points.length - 1];
  const len = Math.hypot(last.x - first.x, last.y - first.y);
  if (len === 0) return points.map((p) => ({ ...p }));
  // Screen coordinates (y down): the right-hand normal of (dx, dy) is (-dy, dx).
  const nx = (-(last.y - first.y) / len) * d;
  const ny = ((last.x - first.x) / len) * d;
  return points.map((p) => ({ x: p.x + nx, y: p.y + ny }));
}
