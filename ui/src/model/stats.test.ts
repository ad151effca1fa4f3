import { describe, expect, it } from 'vitest';
import { makeTrace } from '../test/build';
import { computeSelfTimes, computeStats } from './stats';
import { buildTraceModel } from './trace-model';

describe('self time', () => {
  it('subtracts the union of children clipped to the span', () => {
    const m = buildTraceModel(
      makeTrace([
        { id: 'r', start: 0, duration: 100 },
        { id: 'a', parent: 'r', start: 10, duration: 30 }, // 10..40
        { id: 'b', parent: 'r', start: 30, duration: 20 }, // 30..50 overlaps a
        { id: 'c', parent: 'r', start: 90, duration: 30 }, // 90..120, clipped to 90..100
      ]),
    );
    const self = computeSelfTimes(m);
    expect(self[m.byId.get('r') as number]).toBe(100 - 40 - 10);
    expect(self[m.byId.get('a') as number]).toBe(30);
  });

  it('never goes negative', () => {
    const m = buildTraceModel(makeTrace([{ id: 'r', start: 0, duration: 0 }, { id: 'a', parent: 'r', start: 0, duration: 10 }]));
    expect(computeSelfTimes(m)[0]).toBe(0);
  });
});

describe('statistics', () => {
  it('groups by service and by service + operation', () => {
    const m = buildTraceModel(
      makeTrace([
        { id: 'r', service: 'front', op: 'GET /', start: 0, duration: 100 },
        { id: 'a', parent: 'r', service: 'db', op: 'query', start: 10, duration: 20 },
        { id: 'b', parent: 'r', service: 'db', op: 'query', start: 40, duration: 40, tags: [{ key: 'error', type: 'bool', value: true }] },
      ]),
    );
    const s = computeStats(m);
    const db = s.byOperation.find((r) => r.service === 'db' && r.operation === 'query');
    expect(db).toMatchObject({ count: 2, errors: 1, total: 60, min: 20, max: 40, selfTotal: 60 });
    const front = s.byService.find((r) => r.service === 'front');
    expect(front).toMatchObject({ count: 1, total: 100, selfTotal: 40 });
    expect(s.byService.map((r) => r.service)).toEqual(['db', 'front']);
  });
});
