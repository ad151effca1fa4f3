import { describe, expect, it } from 'vitest';
import { isSearchRequested, parseSearchParams, searchToParams, toApiParams, validateQuery } from './search-query';

const NOW = 1_700_000_000_000_000;

describe('search URL', () => {
  it('reads a Jaeger UI bookmark, JSON tags included', () => {
    const q = parseSearchParams(
      new URLSearchParams('service=frontend&operation=GET%20%2F&tags=%7B%22http.status_code%22%3A%22500%22%2C%22user%22%3A%22a%20b%22%7D&lookback=custom&start=1&end=2&minDuration=1.2ms&limit=50'),
    );
    expect(q).toMatchObject({ service: 'frontend', operation: 'GET /', tags: 'http.status_code=500 user="a b"', lookback: 'custom', start: 1, end: 2, minDuration: '1.2ms', limit: 50 });
  });

  it('reads logfmt tags and repeated trace IDs', () => {
    const q = parseSearchParams(new URLSearchParams('tags=error%3Dtrue&traceID=AB&traceID=cd,ef'));
    expect(q.tags).toBe('error=true');
    expect(q.traceIDs).toEqual(['ab', 'cd', 'ef']);
  });

  it('pins a preset lookback to a start/end range and writes JSON tags', () => {
    const q = parseSearchParams(new URLSearchParams('service=svc&tags=error%3Dtrue&lookback=1h'));
    const p = searchToParams(q, NOW);
    expect(p.get('start')).toBe(String(NOW - 3600e6));
    expect(p.get('end')).toBe(String(NOW));
    expect(p.get('tags')).toBe('{"error":"true"}');
    expect(p.get('limit')).toBe('20');
    expect(parseSearchParams(p)).toMatchObject({ service: 'svc', tags: 'error=true', lookback: '1h' });
  });

  it('builds the API query; trace IDs replace everything else', () => {
    const q = parseSearchParams(new URLSearchParams('service=svc&lookback=2h&maxDuration=2s'));
    const api = toApiParams(q, NOW);
    expect(Object.fromEntries(api)).toEqual({ service: 'svc', start: String(NOW - 7200e6), end: String(NOW), lookback: '2h', maxDuration: '2s', limit: '20' });
    expect(toApiParams({ ...q, traceIDs: ['a', 'b'] }, NOW).toString()).toBe('traceID=a&traceID=b');
  });

  it('knows when a search was asked for', () => {
    expect(isSearchRequested(new URLSearchParams(''))).toBe(false);
    expect(isSearchRequested(new URLSearchParams('lookback=1h'))).toBe(true);
  });

  it('validates', () => {
    const q = parseSearchParams(new URLSearchParams('tags=oops&minDuration=12&limit=0'));
    expect(Object.keys(validateQuery(q).errors).sort()).toEqual(['limit', 'minDuration', 'tags']);
  });
});
