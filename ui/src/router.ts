// Client-side routing on the History API: the server answers every route with index.html.

import { useEffect, useState } from 'preact/hooks';

export interface Location {
  pathname: string;
  search: URLSearchParams;
}

const CHANGE = 'spoor:navigate';

function current(): Location {
  return { pathname: window.location.pathname, search: new URLSearchParams(window.location.search) };
}

export function navigate(url: string, opts: { replace?: boolean } = {}) {
  if (opts.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return loc;
}

/** Follows same-origin `<a href>` clicks without a page load; modified clicks open tabs as usual. */
export function interceptLinks(root: HTMLElement) {
  root.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const href = a.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('//') || href.startsWith('/api/')) return;
    e.preventDefault();
    navigate(href);
  });
}

export type Route =
  | { page: 'search' }
  | { page: 'trace'; traceID: string }
  | { page: 'compare'; a: string; b: string }
  | { page: 'dependencies' }
  | { page: 'monitor' }
  | { page: 'query' }
  | { page: 'upload' }
  | { page: 'not-found' };

export function matchRoute(loc: Location): Route {
  const path = loc.pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/search') return { page: 'search' };
  if (path === '/dependencies') return { page: 'dependencies' };
  if (path === '/upload') return { page: 'upload' };
  if (path === '/monitor') return { page: 'monitor' };
  if (path === '/query') return { page: 'query' };
  if (path === '/compare') return { page: 'compare', a: loc.search.get('a') ?? '', b: loc.search.get('b') ?? '' };
  const m = /^\/trace\/([^/]+)$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const pair = /^(.*)\.\.\.(.*)$/.exec(id);
    if (pair) return { page: 'compare', a: pair[1], b: pair[2] };
    return { page: 'trace', traceID: id };
  }
  return { page: 'not-found' };
}
