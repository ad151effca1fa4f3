// /search: the form on the left, the scatter plot and result list on the right. The search runs from
// the URL, so a bookmark or a back button shows the same results.

import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { searchTracesAnyService } from '../api';
import { ResultList } from '../components/result-list';
import { ScatterPlot } from '../components/scatter-plot';
import { SearchForm } from '../components/search-form';
import type { JaegerTrace } from '../model/jaeger';
import { isSearchRequested, parseSearchParams, type SearchQuery, searchToParams, toApiParams } from '../model/search-query';
import { RESULT_SORTS, type ResultSort, sortSummaries, summarizeTrace } from '../model/trace-summary';
import { navigate } from '../router';

type State = { kind: 'idle' } | { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'done'; traces: JaegerTrace[]; ms: number };

export function SearchPage({ search }: { search: URLSearchParams }) {
  const key = search.toString();
  const query = useMemo(() => parseSearchParams(search), [key]);
  const requested = isSearchRequested(search);
  const [state, setState] = useState<State>({ kind: 'idle' });
  const [sort, setSort] = useState<ResultSort>('newest');
  const [selected, setSelected] = useState<string[]>([]);

  useEffect(() => {
    if (!requested) {
      setState({ kind: 'idle' });
      return undefined;
    }
    const ac = new AbortController();
    setState({ kind: 'loading' });
    const t0 = performance.now();
    searchTracesAnyService(toApiParams(query, Date.now() * 1000), ac.signal)
      .then((traces) => setState({ kind: 'done', traces, ms: performance.now() - t0 }))
      .catch((e: Error) => e.name !== 'AbortError' && setState({ kind: 'error', message: e.message }));
    return () => ac.abort();
  }, [key]);

  const summaries = useMemo(() => (state.kind === 'done' ? state.traces.map(summarizeTrace) : []), [state]);
  const sorted = useMemo(() => sortSummaries(summaries, sort), [summaries, sort]);
  const onOpen = useCallback((id: string) => navigate(`/trace/${id}`), []);
  const onSubmit = (q: SearchQuery) => navigate(`/search?${searchToParams(q, Date.now() * 1000)}`);
  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id].slice(-2)));

  return (
    <div class="search-page">
      <aside class="search-side">
        <h2>Search</h2>
        <SearchForm initial={query} onSubmit={onSubmit} />
      </aside>
      <section class="search-results" aria-live="polite">
        {state.kind === 'idle' && (
          <div class="empty-state">
            <h2>Find traces</h2>
            <p>Pick a service (or all services) and press <b>Find Traces</b>, or paste trace IDs.</p>
            <p class="muted">
              Or <a href="/upload">open a JSON file</a> exported from Jaeger or written as OTLP JSON.
            </p>
          </div>
        )}
        {state.kind === 'loading' && <div class="loading">Searching…</div>}
        {state.kind === 'error' && (
          <div class="error-box" role="alert">
            Search failed: {state.message}
          </div>
        )}
        {state.kind === 'done' && (
          <>
            <div class="results-header">
              <h2>
                <span class="result-count">{summaries.length}</span> Trace{summaries.length === 1 ? '' : 's'}
              </h2>
              <span class="muted">in {Math.round(state.ms)} ms</span>
              <span class="spacer" />
              <label class="inline">
                Sort
                <select name="sort" value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value as ResultSort)}>
                  {RESULT_SORTS.map((s) => (
                    <option key={s.value} value={s.value}>
                      {s.label}
                    </option>
                  ))}
                </select>
              </label>
              <button
                class="primary"
                disabled={selected.length !== 2}
                title={selected.length === 2 ? 'Compare the two selected traces' : 'Select two traces to compare'}
                onClick={() => navigate(`/trace/${selected[0]}...${selected[1]}`)}
              >
                Compare {selected.length}/2
              </button>
            </div>
            {summaries.length === 0 ? (
              <div class="empty-state">
                <p>No traces found. Widen the time range or remove filters.</p>
              </div>
            ) : (
              <>
                <ScatterPlot traces={summaries} onOpen={onOpen} />
                <ResultList traces={sorted} selected={selected} onToggleSelect={toggle} />
              </>
            )}
          </>
        )}
      </section>
    </div>
  );
}
