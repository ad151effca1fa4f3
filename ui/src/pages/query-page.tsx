// /query: the query box. TraceQL or the SQL form (a toggle), run on the query port's /api/traceql;
// results are traces with their matched spans highlighted; a parse error is shown with a caret under
// its position; tag names and values autocomplete while typing (Tab or Enter takes a suggestion).

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, fetchTagNames, fetchTagValues, type QueryMatch, runQuery } from '../api';
import { formatDuration } from '../model/format';
import { applyCompletion, type CompletionContext, completionContext, type Language, tagSuggestions, valueField, valueSuggestions } from '../model/query-complete';
import { navigate } from '../router';

const EXAMPLES: Record<Language, string> = {
  traceql: '{ status = error }',
  sql: 'SELECT * FROM traces WHERE duration > 100ms LIMIT 20',
};

type State =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'error'; message: string; position?: number }
  | { kind: 'done'; matches: QueryMatch[]; ms: number };

function useSuggestions(text: string, cursor: number, language: Language, focused: boolean) {
  const [names, setNames] = useState<{ span: string[]; resource: string[] } | null>(null);
  const [values, setValues] = useState<{ tag: string; list: string[] } | null>(null);
  const ctx: CompletionContext = focused ? completionContext(text, cursor) : { kind: 'none' };
  useEffect(() => {
    if (ctx.kind !== 'tag' || names) return undefined;
    const ac = new AbortController();
    fetchTagNames(ac.signal).then(setNames).catch(() => undefined);
    return () => ac.abort();
  }, [ctx.kind]);
  const field = ctx.kind === 'value' ? valueField(ctx.tag, language) : null;
  useEffect(() => {
    if (!field || values?.tag === field) return undefined;
    const ac = new AbortController();
    fetchTagValues(field, ac.signal)
      .then((list) => setValues({ tag: field, list }))
      .catch(() => setValues({ tag: field, list: [] }));
    return () => ac.abort();
  }, [field]);
  let items: string[] = [];
  if (ctx.kind === 'tag' && names) items = tagSuggestions(ctx.prefix, names, language);
  if (ctx.kind === 'value' && values && values.tag === field) items = valueSuggestions(ctx, values.list, language);
  return { ctx, items };
}

function Result({ m }: { m: QueryMatch }) {
  const first = m.matchedSpans[0]?.spanID;
  const href = `/trace/${m.traceID}${first ? `?uiFind=${first}` : ''}`;
  return (
    <li class="query-result" data-trace-id={m.traceID}>
      <div class="query-result-head">
        <a href={href}>
          <b>{m.rootServiceName || '<root span not yet received>'}</b>: {m.rootTraceName}
        </a>
        <span class="muted">
          {formatDuration(m.duration)} · {new Date(m.startTime / 1000).toLocaleString()} · <span class="mono">{m.traceID.slice(0, 12)}</span>
        </span>
        <span class="query-matched">{m.matched} matched</span>
      </div>
      <ul class="query-spans">
        {m.matchedSpans.map((s) => (
          <li class="query-span matched" data-span-id={s.spanID}>
            <a href={`/trace/${m.traceID}?uiFind=${s.spanID}`}>
              <span class="query-span-service">{s.service}</span> <span class="query-span-name">{s.name}</span>
            </a>{' '}
            <span class="muted">{formatDuration(s.duration)}</span>
          </li>
        ))}
      </ul>
    </li>
  );
}

export function QueryPage({ search }: { search: URLSearchParams }) {
  const urlQuery = search.get('q') ?? '';
  const urlLang: Language = search.get('lang') === 'sql' || /^\s*select\b/i.test(urlQuery) ? 'sql' : 'traceql';
  const [language, setLanguage] = useState<Language>(urlLang);
  const [text, setText] = useState(urlQuery || EXAMPLES[urlLang]);
  const [cursor, setCursor] = useState(0);
  const [focused, setFocused] = useState(false);
  const [active, setActive] = useState(0);
  const [state, setState] = useState<State>({ kind: 'idle' });
  const input = useRef<HTMLTextAreaElement>(null);
  // The caret to place once the box shows a taken suggestion. Set in the same render as the text,
  // so keys typed after it never meet a stale caret (an animation frame could land after them).
  const placeCaret = useRef<{ text: string; cursor: number } | null>(null);
  const { ctx, items } = useSuggestions(text, cursor, language, focused);
  const lookback = Number(search.get('lookback')) || 3_600_000;

  useEffect(() => {
    if (!urlQuery) {
      setState({ kind: 'idle' });
      return undefined;
    }
    const ac = new AbortController();
    setState({ kind: 'loading' });
    const t0 = performance.now();
    const end = Date.now() * 1000;
    runQuery(urlQuery, { start: end - lookback * 1000, end, limit: Number(search.get('limit')) || 20 }, ac.signal)
      .then((matches) => setState({ kind: 'done', matches, ms: performance.now() - t0 }))
      .catch((e: Error) => {
        if (e.name === 'AbortError') return;
        setState({ kind: 'error', message: e.message, position: e instanceof ApiError ? e.position : undefined });
      });
    return () => ac.abort();
  }, [search.toString()]);

  const submit = () => {
    const p = new URLSearchParams({ q: text, lang: language, lookback: String(lookback) });
    navigate(`/query?${p}`);
  };
  const take = (choice: string) => {
    if (ctx.kind === 'none') return;
    const next = applyCompletion(text, cursor, ctx, choice);
    setText(next.text);
    setCursor(next.cursor);
    setActive(0);
    placeCaret.current = next;
  };
  useLayoutEffect(() => {
    const want = placeCaret.current;
    const el = input.current;
    if (!want || !el) return;
    placeCaret.current = null;
    if (el.value !== want.text) return;
    el.focus();
    el.setSelectionRange(want.cursor, want.cursor);
  });
  const sync = (el: HTMLTextAreaElement) => {
    // Typing means the box has the focus, whatever a late blur timer said.
    setFocused(true);
    setText(el.value);
    setCursor(el.selectionStart ?? el.value.length);
    setActive(0);
  };
  const open = focused && items.length > 0;

  return (
    <div class="query-page">
      <form
        class="query-box"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div class="query-toolbar">
          <div class="query-lang" role="group" aria-label="Query language">
            {(['traceql', 'sql'] as Language[]).map((l) => (
              <button
                type="button"
                class={language === l ? 'active' : ''}
                aria-pressed={language === l}
                onClick={() => {
                  if (language === l) return;
                  setLanguage(l);
                  if (!text.trim() || text === EXAMPLES[language]) setText(EXAMPLES[l]);
                }}
              >
                {l === 'traceql' ? 'TraceQL' : 'SQL'}
              </button>
            ))}
          </div>
          <select aria-label="Time window" value={String(lookback)} onChange={(e) => navigate(`/query?${new URLSearchParams({ q: urlQuery, lang: language, lookback: (e.target as HTMLSelectElement).value })}`)}>
            <option value="900000">Last 15 minutes</option>
            <option value="3600000">Last hour</option>
            <option value="86400000">Last 24 hours</option>
            <option value="604800000">Last 7 days</option>
          </select>
          <button type="submit" class="primary">
            Run query
          </button>
        </div>
        <div class="query-input-wrap">
          <textarea
            ref={input}
            class="query-input mono"
            aria-label="Query"
            spellcheck={false}
            rows={3}
            value={text}
            onInput={(e) => sync(e.target as HTMLTextAreaElement)}
            onClick={(e) => sync(e.target as HTMLTextAreaElement)}
            onKeyUp={(e) => {
              if (!['ArrowUp', 'ArrowDown', 'Enter', 'Tab', 'Escape'].includes(e.key)) sync(e.target as HTMLTextAreaElement);
            }}
            onFocus={() => setFocused(true)}
            onBlur={() => setTimeout(() => setFocused(document.activeElement === input.current), 150)}
            onKeyDown={(e) => {
              if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
                e.preventDefault();
                setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length);
              } else if (open && (e.key === 'Tab' || e.key === 'Enter')) {
                e.preventDefault();
                take(items[Math.min(active, items.length - 1)]);
              } else if (e.key === 'Escape') {
                setFocused(false);
              } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || !e.shiftKey)) {
                e.preventDefault();
                submit();
              }
            }}
          />
          {open && (
            <ul class="query-suggestions" role="listbox" aria-label="Suggestions">
              {items.map((s, i) => (
                <li
                  role="option"
                  aria-selected={i === active}
                  class={i === active ? 'active' : ''}
                  onMouseDown={(e) => {
                    e.preventDefault();
                    take(s);
                  }}
                >
                  {s}
                </li>
              ))}
            </ul>
          )}
        </div>
      </form>
      {state.kind === 'error' && (
        <div class="query-error" role="alert">
          <p class="error-text">{state.message}</p>
          {state.position !== undefined && (
            <pre class="query-error-caret mono" data-position={state.position}>
              {urlQuery}
              {'\n'}
              {`${' '.repeat(Math.min(state.position, urlQuery.length))}^`}
            </pre>
          )}
        </div>
      )}
      {state.kind === 'idle' && (
        <div class="empty-state">
          <h2>Query traces</h2>
          <p>
            TraceQL such as <code>{'{ span.http.status_code >= 500 } >> { name = "SELECT orders" }'}</code>, or SQL such as <code>{EXAMPLES.sql}</code>.
          </p>
        </div>
      )}
      {state.kind === 'loading' && <p class="muted">Running…</p>}
      {state.kind === 'done' && (
        <section aria-live="polite">
          <p class="muted query-count">
            {state.matches.length} trace{state.matches.length === 1 ? '' : 's'} in {Math.round(state.ms)} ms
          </p>
          <ul class="query-results">
            {state.matches.map((m) => (
              <Result m={m} />
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
