// The login form shown when the query API answers 401: user name and password for basic auth, or a
// token (static bearer token or a JWT from the OIDC provider) for bearer auth. The credential lives
// in sessionStorage (this tab only) and goes out as `Authorization` on every API call.

import { useEffect, useState } from 'preact/hooks';
import { basicCredential, bearerCredential, type Scheme, saveCredential } from '../auth';
import { fetchLoginMethod, type LoginMethod, startOidcLogin } from '../oidc';

/** "Log in with <issuer host>": the OpenID Connect login, when the server names an issuer. */
function OidcLogin({ method }: { method: Extract<LoginMethod, { type: 'oidc' }> }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  let host = method.issuer;
  try {
    host = new URL(method.issuer).host;
  } catch {
    // shown as configured
  }
  return (
    <div class="login-oidc">
      <button
        type="button"
        class="primary"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          setError(null);
          startOidcLogin(method).catch((e: Error) => {
            setBusy(false);
            setError(e.message);
          });
        }}
      >
        Log in with {host}
      </button>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p class="muted">Or paste a token:</p>
    </div>
  );
}

export function LoginForm({ scheme: initial, onLoggedIn }: { scheme: Scheme; onLoggedIn: () => void }) {
  const [scheme, setScheme] = useState<Scheme>(initial);
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [method, setMethod] = useState<LoginMethod>({ type: 'none' });
  useEffect(() => {
    fetchLoginMethod().then(setMethod);
  }, []);
  const ready = scheme === 'basic' ? user !== '' : token.trim() !== '';
  return (
    <div class="login">
      <form
        class="login-form"
        aria-label="Log in"
        onSubmit={(e) => {
          e.preventDefault();
          if (!ready) return;
          saveCredential(scheme === 'basic' ? basicCredential(user, password) : bearerCredential(token));
          onLoggedIn();
        }}
      >
        <h2>Log in to Spoor</h2>
        <p class="muted">This Spoor asks for credentials before it shows traces.</p>
        <div class="login-scheme" role="group" aria-label="Credential type">
          <button type="button" class={scheme === 'basic' ? 'active' : ''} aria-pressed={scheme === 'basic'} onClick={() => setScheme('basic')}>
            User name and password
          </button>
          <button type="button" class={scheme === 'bearer' ? 'active' : ''} aria-pressed={scheme === 'bearer'} onClick={() => setScheme('bearer')}>
            Token
          </button>
        </div>
        {scheme === 'bearer' && method.type === 'oidc' && <OidcLogin method={method} />}
        {scheme === 'basic' ? (
          <>
            <label>
              User name
              <input name="username" autocomplete="username" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
            </label>
          </>
        ) : (
          <label>
            Bearer token or JWT
            <textarea name="token" rows={3} class="mono" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLTextAreaElement).value)} />
          </label>
        )}
        <button type="submit" class="primary" disabled={!ready}>
          Log in
        </button>
      </form>
    </div>
  );
}
