import { describe, expect, it } from 'vitest';
import { makeTrace } from '../test/build';
import { diffTraces, summarizeDiff } from './diff';
import { buildTraceModel } from './trace-model';

describe('diffTraces', () => {
  const a = buildTraceModel(
    makeTrace([
      { id: 'r', service: 'front', op: 'GET', start: 0, duration: 100 },
      { id: 'q1', parent: 'r', service: 'db', op: 'query', start: 10, duration: 10 },
      { id: 'c', parent: 'r', service: 'cache', op: 'get', start: 30, duration: 5 },
    ]),
  );
  const b = buildTraceModel(
    makeTrace([
      { id: 'r', service: 'front', op: 'GET', start: 0, duration: 200 },
      { id: 'q1', parent: 'r', service: 'db', op: 'query', start: 10, duration: 10 },
      { id: 'q2', parent: 'r', service: 'db', op: 'query', start: 30, duration: 30 },
      { id: 'm', parent: 'r', service: 'mail', op: 'send', start: 70, duration: 60 },
    ]),
  );
  const rows = diffTraces(a, b);

  it('merges both trees by service/operation path', () => {
    expect(rows.map((r) => [r.depth, r.service, r.operation, r.a.count, r.b.count, r.status])).toEqual([
      [0, 'front', 'GET', 1, 1, 'same'],
      [1, 'mail', 'send', 0, 1, 'added'],
      [1, 'db', 'query', 1, 2, 'more'],
      [1, 'cache', 'get', 1, 0, 'removed'],
    ]);
    expect(rows[0].descendants).toBe(3);
    expect(rows[2].a.total).toBe(10);
    expect(rows[2].b.total).toBe(40);
  });

  it('summarises', () => {
    expect(summarizeDiff(rows)).toEqual({ added: 1, removed: 1, changed: 1, same: 1 });
  });

  it('distinguishes the same operation under different parents', () => {
    const x = buildTraceModel(makeTrace([{ id: 'r', op: 'root', start: 0, duration: 9 }, { id: 'a', parent: 'r', op: 'a', start: 0, duration: 1 }, { id: 'q', parent: 'a', op: 'q', start: 0, duration: 1 }, { id: 'q2', parent: 'r', op: 'q', start: 2, duration: 1 }]));
    const d = diffTraces(x, x);
    expect(d.filter((r) => r.operation === 'q')).toHaveLength(2);
    expect(d.every((r) => r.status === 'same')).toBe(true);
  });
});
