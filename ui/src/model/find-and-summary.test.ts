import { describe, expect, it } from 'vitest';
import { makeTrace } from '../test/build';
import { findSpans } from './find';
import { buildTraceModel } from './trace-model';
import { sortSummaries, summarizeTrace } from './trace-summary';

const trace = makeTrace([
  { id: 'r', service: 'frontend', op: 'GET /cart', start: 0, duration: 100 },
  { id: 'a', parent: 'r', service: 'cart', op: 'load', start: 5, duration: 50, tags: [{ key: 'http.status_code', type: 'int64', value: 500 }, { key: 'error', type: 'bool', value: true }] },
  { id: 'b', parent: 'r', service: 'cart', op: 'save', start: 60, duration: 10, tags: [{ key: 'user', type: 'string', value: 'Alice Smith' }] },
]);

describe('findSpans', () => {
  const m = buildTraceModel(trace);
  const ids = (text: string) => findSpans(m, text).map((i) => m.nodes[i].spanID);
  it('matches names, ids and tag values case-insensitively', () => {
    expect(ids('cart')).toEqual(['r', 'a', 'b']);
    expect(ids('SAVE')).toEqual(['b']);
    expect(ids('alice')).toEqual(['b']);
  });
  it('matches key=value against tags and requires every word', () => {
    expect(ids('http.status_code=500')).toEqual(['a']);
    expect(ids('http.status_code=404')).toEqual([]);
    expect(ids('cart load')).toEqual(['a']);
    expect(ids('  ')).toEqual([]);
  });
});

describe('summarizeTrace', () => {
  it('names the trace after its root and counts per service', () => {
    const s = summarizeTrace(trace);
    expect(s).toMatchObject({ name: 'frontend: GET /cart', spanCount: 3, errorCount: 1, duration: 100, missingRoot: false });
    expect(s.services).toEqual([
      { name: 'cart', spanCount: 2, errorCount: 1 },
      { name: 'frontend', spanCount: 1, errorCount: 0 },
    ]);
  });
  it('flags a trace whose root is missing', () => {
    const s = summarizeTrace(makeTrace([{ id: 'x', parent: 'gone', op: 'child', start: 0, duration: 5 }]));
    expect(s.missingRoot).toBe(true);
    expect(s.name).toBe('svc: child');
  });
  it('sorts six ways', () => {
    const list = [
      { ...summarizeTrace(trace), traceID: 'a', start: 1, duration: 30, spanCount: 1, errorCount: 0 },
      { ...summarizeTrace(trace), traceID: 'b', start: 3, duration: 10, spanCount: 5, errorCount: 2 },
      { ...summarizeTrace(trace), traceID: 'c', start: 2, duration: 20, spanCount: 3, errorCount: 1 },
    ];
    const order = (by: Parameters<typeof sortSummaries>[1]) => sortSummaries(list, by).map((s) => s.traceID).join('');
    expect(order('newest')).toBe('bca');
    expect(order('oldest')).toBe('acb');
    expect(order('longest')).toBe('acb');
    expect(order('shortest')).toBe('bca');
    expect(order('most-spans')).toBe('bca');
    expect(order('most-errors')).toBe('bca');
  });
});
