import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, fetchServices, runQuery } from './api';
import { apiHeaders, basicCredential, bearerCredential, clearCredential, jwtSubject, loadCredential, saveCredential, schemeOf, UNAUTHORIZED } from './auth';

class MemoryStorage {
  private m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

let events: Event[];
beforeEach(() => {
  events = [];
  vi.stubGlobal('sessionStorage', new MemoryStorage());
  const target = new EventTarget();
  target.addEventListener(UNAUTHORIZED, (e) => events.push(e));
  vi.stubGlobal('window', target);
});
afterEach(() => vi.unstubAllGlobals());

describe('credentials', () => {
  it('encodes basic auth as UTF-8 base64', () => {
    expect(basicCredential('alice', 'wonder:land').header).toBe(`Basic ${btoa('alice:wonder:land')}`);
    expect(basicCredential('jürgen', 'pw').header).toBe('Basic ' + Buffer.from('jürgen:pw', 'utf8').toString('base64'));
  });

  it('names a JWT by its subject, any other token as "token"', () => {
    const jwt = `x.${Buffer.from(JSON.stringify({ sub: 'svc-1' })).toString('base64url')}.sig`;
    expect(jwtSubject(jwt)).toBe('svc-1');
    expect(bearerCredential(` ${jwt} `)).toEqual({ scheme: 'bearer', header: `Bearer ${jwt}`, label: 'svc-1' });
    expect(bearerCredential('s3cret').label).toBe('token');
  });

  it('reads the scheme of a challenge', () => {
    expect(schemeOf('Basic realm="spoor"')).toBe('basic');
    expect(schemeOf('FormBasic realm="spoor"')).toBe('basic');
    expect(schemeOf('Bearer realm="spoor"')).toBe('bearer');
    expect(schemeOf(null)).toBe('bearer');
  });

  it('keeps the credential in sessionStorage and sends it', () => {
    expect(apiHeaders({ Accept: 'application/json' })).toEqual({ Accept: 'application/json' });
    saveCredential(basicCredential('bob', 'pw'));
    expect(loadCredential()?.label).toBe('bob');
    expect(apiHeaders().Authorization).toBe(`Basic ${btoa('bob:pw')}`);
    clearCredential();
    expect(loadCredential()).toBeNull();
  });
});

describe('API calls with auth', () => {
  it('send Authorization, and on 401 forget the credential and ask for a login', async () => {
    saveCredential(bearerCredential('expired'));
    const seen: (string | null)[] = [];
    const xhr: (string | null)[] = [];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      seen.push(new Headers(init.headers).get('Authorization'));
      xhr.push(new Headers(init.headers).get('X-Requested-With'));
      return new Response('unauthenticated: bad token\n', { status: 401, headers: { 'WWW-Authenticate': 'FormBasic realm="spoor"' } });
    });
    await expect(fetchServices()).rejects.toMatchObject({ status: 401 });
    expect(seen).toEqual(['Bearer expired']);
    // The header by which the server spares the UI the browser's own password dialog.
    expect(xhr).toEqual(['XMLHttpRequest']);
    expect(loadCredential()).toBeNull();
    expect(events.map((e) => (e as CustomEvent).detail)).toEqual(['basic']);
  });

  it('carry the position of a query parse error', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ data: null, errors: [{ code: 400, msg: 'invalid TraceQL query: parse error at position 9: expected a value', position: 9 }] }), { status: 400 }),
    );
    const err = await runQuery('{ name = }', {}).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.position).toBe(9);
    expect(err.message).toContain('position 9');
  });
});
