import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadCredential } from './auth';
import { completeOidcLogin, pkceChallenge, startOidcLogin } from './oidc';

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

const ISSUER = 'https://idp.test/dex';
let assigned: string[];

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function jwt(claims: Record<string, unknown>) {
  const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '');
  return `${enc({ alg: 'RS256' })}.${enc(claims)}.sig`;
}

beforeEach(() => {
  assigned = [];
  vi.stubGlobal('sessionStorage', new MemoryStorage());
  const target = new EventTarget();
  vi.stubGlobal('window', Object.assign(target, { location: { origin: 'http://spoor.test', pathname: '/search', search: '?service=a', assign: (u: string) => assigned.push(u) } }));
});
afterEach(() => vi.unstubAllGlobals());

describe('OIDC login', () => {
  it('computes the PKCE S256 challenge of RFC 7636, appendix B', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('goes to the authorization endpoint and exchanges the code it gets back', async () => {
    const calls: { url: string; init?: RequestInit }[] = [];
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      if (url.endsWith('/.well-known/openid-configuration')) return json({ authorization_endpoint: `${ISSUER}/auth`, token_endpoint: `${ISSUER}/token` });
      if (url === `${ISSUER}/token`) return json({ id_token: jwt({ email: 'ops@example.test' }), access_token: 'a' });
      return json({}, 404);
    });
    await startOidcLogin({ type: 'oidc', issuer: ISSUER, client_id: 'spoor-ui', scope: 'openid email' });
    const auth = new URL(assigned[0]);
    expect(auth.origin + auth.pathname).toBe(`${ISSUER}/auth`);
    expect(auth.searchParams.get('client_id')).toBe('spoor-ui');
    expect(auth.searchParams.get('redirect_uri')).toBe('http://spoor.test/oidc/callback');
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');

    // A callback whose state differs is refused and stores nothing.
    const pending = sessionStorage.getItem('spoor.oidc');
    await expect(completeOidcLogin(new URLSearchParams('code=c&state=other'))).rejects.toThrow(/does not match/);
    expect(loadCredential()).toBeNull();

    sessionStorage.setItem('spoor.oidc', pending as string);
    const next = await completeOidcLogin(new URLSearchParams({ code: 'c1', state: auth.searchParams.get('state') as string }));
    expect(next).toBe('/search?service=a');
    const exchange = calls.find((c) => c.url === `${ISSUER}/token`);
    const form = new URLSearchParams(exchange?.init?.body as URLSearchParams);
    expect(form.get('code')).toBe('c1');
    expect(await pkceChallenge(form.get('code_verifier') as string)).toBe(auth.searchParams.get('code_challenge'));
    expect(loadCredential()?.label).toBe('ops@example.test');
    expect(sessionStorage.getItem('spoor.oidc')).toBeNull();
  });

  it('reports the provider refusing the login', async () => {
    await expect(completeOidcLogin(new URLSearchParams('error=access_denied&error_description=no+way'))).rejects.toThrow(/no way/);
  });
});
