import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, fetchOperations, fetchTrace, searchTracesAnyService } from './api';
import { makeTrace } from './test/build';

type Handler = (url: URL) => { status: number; body: unknown };

function mockFetch(handler: Handler) {
  const calls: string[] = [];
  vi.stubGlobal('fetch', async (input: string) => {
    const url = new URL(input, 'http://spoor.test');
    calls.push(url.pathname + url.search);
    const { status, body } = handler(url);
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  return calls;
}

const ok = (data: unknown) => ({ status: 200, body: { data, total: 0, limit: 0, offset: 0, errors: null } });

afterEach(() => vi.unstubAllGlobals());

describe('searchTracesAnyService', () => {
  it('fans out per service when the server requires a service, merging newest first', async () => {
    const a = makeTrace([{ id: 'a', service: 'x', start: 0, duration: 1 }], 't-old');
    const b = makeTrace([{ id: 'b', service: 'y', start: 1000, duration: 1 }], 't-new');
    const calls = mockFetch((url) => {
      if (url.pathname === '/api/services') return ok(['y', 'x']);
      const service = url.searchParams.get('service');
      if (!service) return { status: 400, body: { data: null, errors: [{ code: 400, msg: "parameter 'service' is required" }] } };
      return ok(service === 'x' ? [a, b] : [b]);
    });
    const out = await searchTracesAnyService(new URLSearchParams('lookback=1h&limit=20'));
    expect(out.map((t) => t.traceID)).toEqual(['t-new', 't-old']);
    expect(calls.filter((c) => c.startsWith('/api/traces')).length).toBe(3);
  });

  it('passes other errors through', async () => {
    mockFetch(() => ({ status: 503, body: { data: null, errors: [{ code: 503, msg: 'storage unavailable' }] } }));
    await expect(searchTracesAnyService(new URLSearchParams('service=x'))).rejects.toThrow('storage unavailable');
  });
});

describe('other calls', () => {
  it('reports a missing trace as a 404 ApiError', async () => {
    mockFetch(() => ({ status: 404, body: { data: null, errors: [{ code: 404, msg: 'trace not found' }] } }));
    const err = await fetchTrace('abc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
  });

  it('falls back to /api/services/{svc}/operations on older servers', async () => {
    mockFetch((url) => (url.pathname === '/api/operations' ? { status: 404, body: {} } : ok(['GET /', 'POST /'])));
    expect(await fetchOperations('svc')).toEqual([
      { name: 'GET /', spanKind: '' },
      { name: 'POST /', spanKind: '' },
    ]);
  });
});
