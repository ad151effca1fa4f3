import { describe, expect, it } from 'vitest';
import { makeTrace, T0 } from '../test/build';
import { computeCriticalPath } from './critical-path';
import { buildTraceModel } from './trace-model';

const path = (specs: Parameters<typeof makeTrace>[0]) => {
  const m = buildTraceModel(makeTrace(specs));
  return computeCriticalPath(m).segments.map((s) => [m.nodes[s.index].spanID, s.start - T0, s.end - T0]);
};

describe('computeCriticalPath', () => {
  it('walks sequential children back from the end', () => {
    expect(
      path([
        { id: 'r', start: 0, duration: 100 },
        { id: 'a', parent: 'r', start: 10, duration: 30 },
        { id: 'b', parent: 'r', start: 50, duration: 40 },
      ]),
    ).toEqual([
      ['r', 90, 100],
      ['b', 50, 90],
      ['r', 40, 50],
      ['a', 10, 40],
      ['r', 0, 10],
    ]);
  });

  it('follows the last-finishing of parallel children only', () => {
    expect(
      path([
        { id: 'r', start: 0, duration: 100 },
        { id: 'fast', parent: 'r', start: 10, duration: 20 },
        { id: 'slow', parent: 'r', start: 10, duration: 80 },
      ]),
    ).toEqual([
      ['r', 90, 100],
      ['slow', 10, 90],
      ['r', 0, 10],
    ]);
  });

  it('clips children that outlive their parent and ignores FOLLOWS_FROM children', () => {
    expect(
      path([
        { id: 'r', start: 0, duration: 100 },
        { id: 'late', parent: 'r', start: 80, duration: 50 },
        { id: 'async', parent: 'r', ref: 'FOLLOWS_FROM', start: 10, duration: 20 },
      ]),
    ).toEqual([
      ['late', 80, 100],
      ['r', 0, 80],
    ]);
  });

  it('descends through nested children', () => {
    expect(
      path([
        { id: 'r', start: 0, duration: 100 },
        { id: 'a', parent: 'r', start: 0, duration: 100 },
        { id: 'a1', parent: 'a', start: 20, duration: 60 },
      ]),
    ).toEqual([
      ['a', 80, 100],
      ['a1', 20, 80],
      ['a', 0, 20],
    ]);
  });

  it('is a loop, not a recursion: a 100k-deep chain works', () => {
    const specs = Array.from({ length: 100_000 }, (_, i) => ({ id: `s${i}`, parent: i ? `s${i - 1}` : undefined, start: i, duration: 300_000 - 2 * i }));
    const m = buildTraceModel(makeTrace(specs));
    const cp = computeCriticalPath(m);
    expect(cp.byNode.size).toBe(100_000);
  });
});
