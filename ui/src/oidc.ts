// OpenID Connect login (authorization-code flow with PKCE, as a public client): the server's
// `/api/auth/config` names the issuer and the client id; the UI reads the issuer's discovery
// document, sends the browser to its authorization endpoint, and on the way back
// (`/oidc/callback`) exchanges the code at the token endpoint for an ID token, which every API call
// then carries as `Authorization: Bearer`. The PKCE verifier and state live in sessionStorage
// for the round trip only.

import { bearerCredential, saveCredential } from './auth';

export type LoginMethod =
  | { type: 'none' | 'basic' | 'bearer' }
  | { type: 'oidc'; issuer: string; client_id: string; scope: string };

export const CALLBACK_PATH = '/oidc/callback';
const PENDING = 'spoor.oidc';

interface Pending {
  state: string;
  verifier: string;
  returnTo: string;
  issuer: string;
  clientId: string;
  tokenEndpoint: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

/** How the server wants the UI to log in (`none` when it does not say). */
export async function fetchLoginMethod(): Promise<LoginMethod> {
  try {
    const res = await fetch('/api/auth/config', { headers: { Accept: 'application/json' } });
    if (!res.ok) return { type: 'none' };
    return (await res.json()) as LoginMethod;
  } catch {
    return { type: 'none' };
  }
}

/** Base64url without padding. */
export function base64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return base64Url(bytes);
}

/** The PKCE S256 challenge of `verifier` (RFC 7636). */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`the identity provider's discovery document answered ${res.status}`);
  const doc = (await res.json()) as Partial<Discovery>;
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error('the discovery document names no authorization or token endpoint');
  return doc as Discovery;
}

function redirectUri(): string {
  return `${window.location.origin}${CALLBACK_PATH}`;
}

/** Sends the browser to the issuer's login page; comes back to `/oidc/callback`. */
export async function startOidcLogin(method: Extract<LoginMethod, { type: 'oidc' }>): Promise<void> {
  if (!globalThis.crypto?.subtle) {
    throw new Error('this page is not a secure context (HTTPS or localhost), so the browser cannot compute the PKCE challenge');
  }
  const doc = await discover(method.issuer);
  const pending: Pending = {
    state: randomString(),
    verifier: randomString(),
    returnTo: `${window.location.pathname}${window.location.search}`,
    issuer: method.issuer,
    clientId: method.client_id,
    tokenEndpoint: doc.token_endpoint,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', method.client_id);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('scope', method.scope || 'openid');
  url.searchParams.set('state', pending.state);
  url.searchParams.set('code_challenge', await pkceChallenge(pending.verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  window.location.assign(url.toString());
}

/**
 * On `/oidc/callback`: checks the state, exchanges the code for tokens and stores the ID token as
 * the credential. Returns where to go next; throws with a message for the user on failure.
 */
export async function completeOidcLogin(search: URLSearchParams): Promise<string> {
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const error = search.get('error');
  if (error) throw new Error(`the identity provider refused the login: ${search.get('error_description') || error}`);
  if (!raw) throw new Error('no login was started in this tab');
  const pending = JSON.parse(raw) as Pending;
  const code = search.get('code');
  if (!code || search.get('state') !== pending.state) throw new Error('the login answer does not match the login started in this tab');
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri(),
    client_id: pending.clientId,
    code_verifier: pending.verifier,
  });
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body,
  });
  const tokens = (await res.json().catch(() => ({}))) as { id_token?: string; error?: string; error_description?: string };
  if (!res.ok || !tokens.id_token) {
    throw new Error(`the token endpoint refused the code: ${tokens.error_description || tokens.error || res.status}`);
  }
  saveCredential(bearerCredential(tokens.id_token));
  return pending.returnTo.startsWith('/') && !pending.returnTo.startsWith(CALLBACK_PATH) ? pending.returnTo : '/search';
}
