import { describe, expect, it } from 'vitest';
import { clipToNode, layoutGraph } from './graph-layout';
import { boundsOf, fitView, MAX_FIT_SCALE, neighbourhood, offsetPolyline, panBy, pointAlong, project, servicesOf, wheelFactor, zoomAt } from './graph-view';
import type { DependencyLink } from './jaeger';

const SERVICES = ['api-gateway', 'auth', 'cart', 'catalog', 'checkout', 'orders-db', 'payment', 'shipping'];
/** 8 services, each calling every other: 56 links. */
const dense: DependencyLink[] = SERVICES.flatMap((p, i) => SERVICES.filter((c) => c !== p).map((c, j) => ({ parent: p, child: c, callCount: 1 + ((i * 7 + j) % 40) })));

const inside = (outer: { x: number; y: number; width: number; height: number }, inner: typeof outer) =>
  inner.x >= outer.x - 1e-6 && inner.y >= outer.y - 1e-6 && inner.x + inner.width <= outer.x + outer.width + 1e-6 && inner.y + inner.height <= outer.y + outer.height + 1e-6;

describe('fitView', () => {
  it('puts a large graph entirely inside the frame, centred', () => {
    const content = { x: 0, y: 0, width: 3000, height: 900 };
    const v = fitView(content, 1200, 520, 24);
    const screen = project(v, content);
    expect(inside({ x: 0, y: 0, width: 1200, height: 520 }, screen)).toBe(true);
    expect(screen.width).toBeCloseTo(1200 - 48, 6); // limited by the width
    expect(screen.y + screen.height / 2).toBeCloseTo(260, 6);
  });

  it('does not blow up a small graph', () => {
    const v = fitView({ x: 10, y: 10, width: 100, height: 40 }, 1200, 520);
    expect(v.k).toBe(MAX_FIT_SCALE);
    const s = project(v, { x: 10, y: 10, width: 100, height: 40 });
    expect(s.x + s.width / 2).toBeCloseTo(600, 6);
  });
});

describe('zoomAt and panBy', () => {
  it('keeps the point under the cursor in place', () => {
    const v = { k: 0.8, x: 40, y: -10 };
    const z = zoomAt(v, 1.5, 300, 200);
    expect(z.k).toBeCloseTo(1.2, 9);
    const world = { x: (300 - v.x) / v.k, y: (200 - v.y) / v.k };
    expect(world.x * z.k + z.x).toBeCloseTo(300, 9);
    expect(world.y * z.k + z.y).toBeCloseTo(200, 9);
  });

  it('clamps the scale', () => {
    expect(zoomAt({ k: 1, x: 0, y: 0 }, 1000, 0, 0).k).toBe(4);
    expect(zoomAt({ k: 1, x: 0, y: 0 }, 0.0001, 0, 0).k).toBe(0.1);
  });

  it('pans by screen pixels', () => {
    expect(panBy({ k: 2, x: 1, y: 2 }, 10, -5)).toEqual({ k: 2, x: 11, y: -3 });
  });

  it('zooms in on wheel up and out on wheel down', () => {
    expect(wheelFactor(-100)).toBeGreaterThan(1);
    expect(wheelFactor(100)).toBeLessThan(1);
    expect(wheelFactor(100) * wheelFactor(-100)).toBeCloseTo(1, 9);
  });
});

describe('neighbourhood', () => {
  it('keeps only the calls into and out of the focused service', () => {
    const n = neighbourhood(dense, 'cart');
    expect(n).toHaveLength(14);
    expect(n.every((l) => l.parent === 'cart' || l.child === 'cart')).toBe(true);
    expect(neighbourhood(dense, null)).toHaveLength(56);
    expect(neighbourhood(dense, 'nobody')).toHaveLength(0);
    expect(servicesOf(neighbourhood([{ parent: 'a', child: 'b', callCount: 1 }, { parent: 'c', child: 'd', callCount: 1 }], 'a'))).toEqual(['a', 'b']);
  });
});

describe('polyline helpers', () => {
  it('finds the point at a fraction of the length', () => {
    const pts = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 10, y: 30 },
    ];
    expect(pointAlong(pts, 0.5)).toEqual({ x: 10, y: 10 });
    expect(pointAlong(pts, 0)).toEqual({ x: 0, y: 0 });
    expect(pointAlong(pts, 1)).toEqual({ x: 10, y: 30 });
  });

  it('offsets the two directions of a pair to opposite sides', () => {
    const ab = offsetPolyline([{ x: 0, y: 0 }, { x: 100, y: 0 }], 5);
    const ba = offsetPolyline([{ x: 100, y: 0 }, { x: 0, y: 0 }], 5);
    expect(ab[0].y).toBe(5);
    expect(ba[0].y).toBe(-5);
  });

  it('bounds boxes and points', () => {
    expect(boundsOf([{ x: 0, y: 0, width: 10, height: 10 }], [{ x: -5, y: 20 }])).toEqual({ x: -5, y: 0, width: 15, height: 20 });
    expect(boundsOf([])).toEqual({ x: 0, y: 0, width: 0, height: 0 });
  });
});

describe('layoutGraph', () => {
  it('layers a sparse graph left to right', () => {
    const chain = layoutGraph([
      { parent: 'a', child: 'b', callCount: 1 },
      { parent: 'b', child: 'c', callCount: 2 },
      { parent: 'a', child: 'c', callCount: 3 },
    ]);
    expect(chain.kind).toBe('layered');
    const x = Object.fromEntries(chain.nodes.map((n) => [n.id, n.x]));
    expect(x.a).toBeLessThan(x.b);
    expect(x.b).toBeLessThan(x.c);
  });

  it('clips an edge to the border of its node', () => {
    const a = { id: 'a', x: 0, y: 0, w: 100, h: 36 };
    expect(clipToNode(a, { id: 'b', x: 300, y: 0, w: 100, h: 36 })).toEqual({ x: 50, y: 0 });
    expect(clipToNode(a, { id: 'b', x: 0, y: -200, w: 100, h: 36 })).toEqual({ x: 0, y: -18 });
  });
});

describe('layoutGraph on 8 services with 56 edges', () => {
  const laid = layoutGraph(dense);

  it('lays out every service and call', () => {
    expect(laid.nodes).toHaveLength(8);
    expect(laid.edges).toHaveLength(56);
  });

  it('puts each call count on its own edge', () => {
    for (const e of laid.edges) {
      // The label is on the polyline: its distance to the nearest segment is ~0.
      let best = Infinity;
      for (let i = 1; i < e.points.length; i++) {
        const a = e.points[i - 1];
        const b = e.points[i];
        const len2 = (b.x - a.x) ** 2 + (b.y - a.y) ** 2;
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((e.label.x - a.x) * (b.x - a.x) + (e.label.y - a.y) * (b.y - a.y)) / len2));
        best = Math.min(best, Math.hypot(e.label.x - (a.x + t * (b.x - a.x)), e.label.y - (a.y + t * (b.y - a.y))));
      }
      expect(best).toBeLessThan(0.01);
    }
  });

  it('keeps the labels of a→b and b→a apart', () => {
    const ab = laid.edges.find((e) => e.from === 'cart' && e.to === 'payment');
    const ba = laid.edges.find((e) => e.from === 'payment' && e.to === 'cart');
    expect(ab && ba).toBeTruthy();
    if (ab && ba) expect(Math.hypot(ab.label.x - ba.label.x, ab.label.y - ba.label.y)).toBeGreaterThan(9);
  });

  it('fits into a 1200 × 520 frame, nodes, edges and labels included', () => {
    const v = fitView(laid.bounds, 1200, 520);
    const frame = { x: 0, y: 0, width: 1200, height: 520 };
    expect(inside(frame, project(v, laid.bounds))).toBe(true);
    for (const n of laid.nodes) expect(inside(frame, project(v, { x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w, height: n.h }))).toBe(true);
  });

  it('is a ring, without overlapping services', () => {
    expect(laid.kind).toBe('ring');
    for (const a of laid.nodes)
      for (const b of laid.nodes) {
        if (a === b) continue;
        const apart = Math.abs(a.x - b.x) >= (a.w + b.w) / 2 || Math.abs(a.y - b.y) >= (a.h + b.h) / 2;
        expect(apart, `${a.id} and ${b.id} overlap`).toBe(true);
      }
  });

  it('focus puts the service in the middle with its 14 calls as straight spokes', () => {
    const focused = layoutGraph(neighbourhood(dense, 'cart'), 'cart');
    expect(focused.kind).toBe('radial');
    expect(focused.edges).toHaveLength(14);
    const cart = focused.nodes.find((n) => n.id === 'cart');
    expect(cart && [cart.x, cart.y]).toEqual([0, 0]);
    for (const e of focused.edges) {
      expect(e.points).toHaveLength(2);
      expect(e.from === 'cart' || e.to === 'cart').toBe(true);
    }
  });
});
