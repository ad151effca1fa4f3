// The query API's credential: what the login form stores (per browser tab, in sessionStorage) and
// what every fetch sends as `Authorization`. A 401 from the API clears a stored credential and asks
// the shell to show the login form, with the scheme the server's `WWW-Authenticate` names.

export type Scheme = 'basic' | 'bearer';

export interface Credential {
  scheme: Scheme;
  /** The `Authorization` header value. */
  header: string;
  /** Who is logged in, as shown next to the logout button. */
  label: string;
}

const KEY = 'spoor.auth';
export const UNAUTHORIZED = 'spoor:unauthorized';
export const AUTH_CHANGED = 'spoor:auth-changed';

function storage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}

/** Base64 of the UTF-8 bytes of `text` (btoa alone refuses non-Latin-1 user names). */
export function base64Utf8(text: string): string {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

export function basicCredential(username: string, password: string): Credential {
  return { scheme: 'basic', header: `Basic ${base64Utf8(`${username}:${password}`)}`, label: username };
}

export function bearerCredential(token: string): Credential {
  const t = token.trim();
  return { scheme: 'bearer', header: `Bearer ${t}`, label: jwtSubject(t) ?? 'token' };
}

/** The `preferred_username`, `email` or `sub` of a JWT, when the token is one; never verified here. */
export function jwtSubject(token: string): string | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as Record<string, unknown>;
    const name = claims.preferred_username ?? claims.email ?? claims.sub;
    return typeof name === 'string' ? name : null;
  } catch {
    return null;
  }
}

/**
 * The scheme a `WWW-Authenticate` header asks for: Basic (`FormBasic` is what the server answers the
 * UI's own calls, so the browser opens no dialog of its own), else a bearer token (also for OIDC).
 */
export function schemeOf(challenge: string | null): Scheme {
  return challenge && /^\s*(form)?basic\b/i.test(challenge) ? 'basic' : 'bearer';
}

export function loadCredential(): Credential | null {
  const raw = storage()?.getItem(KEY);
  if (!raw) return null;
  try {
    const c = JSON.parse(raw) as Credential;
    return (c.scheme === 'basic' || c.scheme === 'bearer') && typeof c.header === 'string' ? c : null;
  } catch {
    return null;
  }
}

function changed() {
  if (typeof window !== 'undefined') window.dispatchEvent(new Event(AUTH_CHANGED));
}

export function saveCredential(c: Credential) {
  storage()?.setItem(KEY, JSON.stringify(c));
  changed();
}

export function clearCredential() {
  storage()?.removeItem(KEY);
  changed();
}

/** Headers for an API call: `Accept` plus the stored credential, if any. */
export function apiHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const c = loadCredential();
  return c ? { ...extra, Authorization: c.header } : { ...extra };
}

/** Called on a 401: forget a credential the server refused and ask for another. */
export function reportUnauthorized(challenge: string | null) {
  storage()?.removeItem(KEY);
  if (typeof window !== 'undefined') window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: schemeOf(challenge) }));
}
