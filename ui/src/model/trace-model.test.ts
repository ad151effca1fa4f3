import { describe, expect, it } from 'vitest';
import { makeTrace } from '../test/build';
import { buildTraceModel, collapseAll, collapseOneLevel, expandOneLevel, visibleRows } from './trace-model';
import type { JaegerTrace } from './jaeger';

const opsInOrder = (t: JaegerTrace) => buildTraceModel(t).nodes.map((n) => n.spanID);

describe('buildTraceModel', () => {
  it('orders spans depth-first with children by start time', () => {
    const t = makeTrace([
      { id: 'c2', parent: 'root', start: 50, duration: 10 },
      { id: 'root', start: 0, duration: 100 },
      { id: 'c1', parent: 'root', start: 10, duration: 30 },
      { id: 'g1', parent: 'c1', start: 12, duration: 5 },
    ]);
    const m = buildTraceModel(t);
    expect(m.nodes.map((n) => n.spanID)).toEqual(['root', 'c1', 'g1', 'c2']);
    expect(m.nodes.map((n) => n.depth)).toEqual([0, 1, 2, 1]);
    expect(m.nodes.map((n) => n.subtreeSize)).toEqual([4, 2, 1, 1]);
    expect(m.roots).toEqual([0]);
    expect(m.depth).toBe(3);
    expect(m.duration).toBe(100);
    expect(m.rootOperation).toBe('op-root');
    expect(m.orphanCount).toBe(0);
  });

  it('shows orphans at the top level, flagged with the missing parent, not re-rooted', () => {
    const t = makeTrace([
      { id: 'root', start: 0, duration: 100 },
      { id: 'orphan', parent: 'gone', start: 20, duration: 10 },
      { id: 'kid', parent: 'orphan', start: 21, duration: 2 },
    ]);
    const m = buildTraceModel(t);
    expect(m.roots.map((r) => m.nodes[r].spanID)).toEqual(['root', 'orphan']);
    const orphan = m.nodes[m.byId.get('orphan') as number];
    expect(orphan.parent).toBe(-1);
    expect(orphan.missingParent).toBe('gone');
    expect(orphan.depth).toBe(0);
    expect(m.nodes[m.byId.get('root') as number].missingParent).toBeNull();
    expect(m.nodes[m.byId.get('kid') as number].depth).toBe(1);
    expect(m.orphanCount).toBe(1);
    expect(m.rootService).toBe('svc');
    expect(m.warnings.some((w) => w.includes('not in this trace'))).toBe(true);
  });

  it('takes the root from a true root even when an orphan starts earlier', () => {
    const m = buildTraceModel(makeTrace([{ id: 'o', parent: 'x', op: 'orph', start: 0, duration: 5 }, { id: 'r', op: 'real', start: 1, duration: 5 }]));
    expect(m.rootOperation).toBe('real');
  });

  it('prefers CHILD_OF over FOLLOWS_FROM and ignores references to other traces', () => {
    const t = makeTrace([
      { id: 'a', start: 0, duration: 10 },
      { id: 'b', start: 1, duration: 10 },
      { id: 'c', start: 2, duration: 1 },
    ]);
    t.spans[2].references = [
      { refType: 'CHILD_OF', traceID: 'other', spanID: 'a' },
      { refType: 'FOLLOWS_FROM', traceID: t.traceID, spanID: 'a' },
      { refType: 'CHILD_OF', traceID: t.traceID, spanID: 'b' },
    ];
    const m = buildTraceModel(t);
    const c = m.nodes[m.byId.get('c') as number];
    expect(m.nodes[c.parent].spanID).toBe('b');
    expect(c.parentRefType).toBe('CHILD_OF');
  });

  it('cuts reference cycles instead of losing the spans', () => {
    const t = makeTrace([
      { id: 'x', parent: 'y', start: 0, duration: 10 },
      { id: 'y', parent: 'x', start: 5, duration: 10 },
    ]);
    const m = buildTraceModel(t);
    expect(m.nodes).toHaveLength(2);
    expect(m.nodes[0].spanID).toBe('x');
    expect(m.nodes[0].missingParent).toBe('y');
    expect(m.nodes[1].parent).toBe(0);
    expect(m.warnings.some((w) => w.includes('cycle'))).toBe(true);
  });

  it('handles duplicate span IDs and the Jaeger UI fixture shape', () => {
    const t = makeTrace([
      { id: '2', start: 0, duration: 5 },
      { id: '2', start: 0, duration: 5 },
      { id: '3', parent: '2', start: 0, duration: 5 },
    ]);
    const m = buildTraceModel(t);
    expect(m.nodes).toHaveLength(3);
    expect(m.roots).toHaveLength(2);
    expect(m.warnings.some((w) => w.includes('reuse a span ID'))).toBe(true);
  });

  it('counts errors from error=true and otel.status_code=ERROR', () => {
    const m = buildTraceModel(
      makeTrace([
        { id: 'a', start: 0, duration: 10, service: 'front', tags: [{ key: 'error', type: 'bool', value: true }] },
        { id: 'b', parent: 'a', start: 0, duration: 10, service: 'back', tags: [{ key: 'otel.status_code', type: 'string', value: 'ERROR' }] },
        { id: 'c', parent: 'a', start: 0, duration: 10, service: 'back', tags: [{ key: 'otel.status_code', type: 'string', value: 'OK' }] },
      ]),
    );
    expect(m.errorCount).toBe(2);
    expect(m.services).toEqual([
      { name: 'front', spanCount: 1, errorCount: 1 },
      { name: 'back', spanCount: 2, errorCount: 1 },
    ]);
  });

  it('builds a 100k-span chain without overflowing the stack', () => {
    const specs = Array.from({ length: 100_000 }, (_, i) => ({ id: `s${i}`, parent: i ? `s${i - 1}` : undefined, start: i, duration: 200_000 - 2 * i }));
    const m = buildTraceModel(makeTrace(specs));
    expect(m.depth).toBe(100_000);
    expect(m.nodes[0].subtreeSize).toBe(100_000);
  });
});

describe('collapsing', () => {
  const m = buildTraceModel(
    makeTrace([
      { id: 'r', start: 0, duration: 100 },
      { id: 'a', parent: 'r', start: 1, duration: 50 },
      { id: 'a1', parent: 'a', start: 2, duration: 5 },
      { id: 'b', parent: 'r', start: 60, duration: 5 },
    ]),
  );
  it('hides collapsed subtrees', () => {
    expect([...visibleRows(m, new Set())]).toEqual([0, 1, 2, 3]);
    expect([...visibleRows(m, new Set([1]))]).toEqual([0, 1, 3]);
    expect([...visibleRows(m, new Set([0]))]).toEqual([0]);
  });
  it('collapses and expands one level at a time', () => {
    const one = collapseOneLevel(m, new Set());
    expect([...one]).toEqual([1]);
    const two = collapseOneLevel(m, one);
    expect([...visibleRows(m, two)]).toEqual([0]);
    expect([...visibleRows(m, expandOneLevel(m, two))]).toEqual([0, 1, 3]);
    expect([...collapseAll(m)].sort()).toEqual([0, 1]);
  });
});

describe('ordering helper', () => {
  it('is stable for equal start times', () => {
    expect(opsInOrder(makeTrace([{ id: 'r', start: 0, duration: 9 }, { id: 'x', parent: 'r', start: 1, duration: 1 }, { id: 'y', parent: 'r', start: 1, duration: 1 }]))).toEqual(['r', 'x', 'y']);
  });
});
