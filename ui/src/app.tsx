// The shell: top bar with navigation, trace-ID lookup and theme switch; the page for the current route.

import { useEffect, useState } from 'preact/hooks';
import { AUTH_CHANGED, clearCredential, loadCredential, type Scheme, UNAUTHORIZED } from './auth';
import { LoginForm } from './components/login';
import { ComparePage } from './pages/compare-page';
import { DependenciesPage } from './pages/dependencies-page';
import { MonitorPage } from './pages/monitor-page';
import { QueryPage } from './pages/query-page';
import { SearchPage } from './pages/search-page';
import { TracePage } from './pages/trace-page';
import { UploadPage } from './pages/upload-page';
import { CALLBACK_PATH, completeOidcLogin } from './oidc';
import { matchRoute, navigate, useLocation } from './router';
import { useTheme } from './theme';

function TraceIdLookup() {
  const [text, setText] = useState('');
  return (
    <form
      class="lookup"
      onSubmit={(e) => {
        e.preventDefault();
        const ids = text.trim().split(/[\s,]+/).filter(Boolean);
        if (ids.length === 1) navigate(`/trace/${encodeURIComponent(ids[0])}`);
        else if (ids.length > 1) navigate(`/search?${ids.map((id) => `traceID=${encodeURIComponent(id)}`).join('&')}`);
        setText('');
      }}
    >
      <input
        aria-label="Lookup by trace ID"
        placeholder="Lookup by Trace ID…"
        value={text}
        onInput={(e) => setText((e.target as HTMLInputElement).value)}
      />
    </form>
  );
}

/** `/oidc/callback`: the identity provider sent the browser back with a code; trade it for a token. */
function OidcCallback({ search, onLoggedIn }: { search: URLSearchParams; onLoggedIn: () => void }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    completeOidcLogin(search).then(
      (next) => {
        onLoggedIn();
        navigate(next, { replace: true });
      },
      (e: Error) => setError(e.message),
    );
  }, []);
  return error === null ? (
    <div class="empty-state">
      <h2>Logging in…</h2>
    </div>
  ) : (
    <div class="empty-state" role="alert">
      <h2>Login failed</h2>
      <p>{error}</p>
      <p>
        <a href="/search">Try again</a>
      </p>
    </div>
  );
}

/** The login state: who is logged in, and whether the API asked for credentials (with which scheme). */
function useLogin() {
  const [user, setUser] = useState(() => loadCredential()?.label ?? null);
  const [asked, setAsked] = useState<Scheme | null>(null);
  useEffect(() => {
    const onAsk = (e: Event) => setAsked((e as CustomEvent<Scheme>).detail);
    const onChange = () => setUser(loadCredential()?.label ?? null);
    window.addEventListener(UNAUTHORIZED, onAsk);
    window.addEventListener(AUTH_CHANGED, onChange);
    return () => {
      window.removeEventListener(UNAUTHORIZED, onAsk);
      window.removeEventListener(AUTH_CHANGED, onChange);
    };
  }, []);
  return { user, asked, done: () => setAsked(null) };
}

export function App() {
  const loc = useLocation();
  const route = matchRoute(loc);
  const [theme, toggleTheme] = useTheme();
  const login = useLogin();
  // Pages re-mount after a login or logout, so they fetch again with the new credential.
  const [epoch, setEpoch] = useState(0);
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} class={active ? 'active' : ''} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <div class="shell">
      <header class="topbar">
        <a href="/search" class="brand" aria-label="Spoor home">
          <img src="/favicon.svg" alt="" width={22} height={22} />
          Spoor
        </a>
        <nav>
          {nav('/search', 'Search', route.page === 'search')}
          {nav('/query', 'Query', route.page === 'query')}
          {nav('/monitor', 'Monitor', route.page === 'monitor')}
          {nav('/compare', 'Compare', route.page === 'compare')}
          {nav('/dependencies', 'System Architecture', route.page === 'dependencies')}
          {nav('/upload', 'Upload', route.page === 'upload')}
        </nav>
        <div class="topbar-end">
          <TraceIdLookup />
          {login.user !== null && (
            <span class="login-user">
              <span class="muted">{login.user}</span>{' '}
              <button
                onClick={() => {
                  clearCredential();
                  setEpoch((n) => n + 1);
                }}
              >
                Log out
              </button>
            </span>
          )}
          <button class="icon-button" onClick={toggleTheme} title="Switch light/dark theme" aria-label="Switch theme">
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      {loc.pathname === CALLBACK_PATH && (
        <main class="page">
          <OidcCallback search={loc.search} onLoggedIn={() => setEpoch((n) => n + 1)} />
        </main>
      )}
      {login.asked !== null && loc.pathname !== CALLBACK_PATH && (
        <main class="page">
          <LoginForm
            scheme={login.asked}
            onLoggedIn={() => {
              login.done();
              setEpoch((n) => n + 1);
            }}
          />
        </main>
      )}
      <main class="page" key={epoch} hidden={login.asked !== null || loc.pathname === CALLBACK_PATH}>
        {route.page === 'search' && <SearchPage search={loc.search} />}
        {route.page === 'trace' && <TracePage key={route.traceID} traceID={route.traceID} search={loc.search} />}
        {route.page === 'compare' && <ComparePage a={route.a} b={route.b} />}
        {route.page === 'dependencies' && <DependenciesPage />}
        {route.page === 'upload' && <UploadPage />}
        {route.page === 'monitor' && <MonitorPage search={loc.search} />}
        {route.page === 'query' && <QueryPage search={loc.search} />}
        {route.page === 'not-found' && (
          <div class="empty-state">
            <h2>Page not found</h2>
            <p>
              Nothing lives at <code>{loc.pathname}</code>. <a href="/search">Search traces</a>.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}
