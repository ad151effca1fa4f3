// The trace view: header, tabs (timeline, statistics, JSON), minimap, toolbar with find-in-trace and
// tree controls, the waterfall and the span detail panel, plus the keyboard shortcuts.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { computeCriticalPath } from '../model/critical-path';
import { findSpans } from '../model/find';
import { formatDuration } from '../model/format';
import { computeSelfTimes } from '../model/stats';
import { ancestorsOf, collapseAll, collapseOneLevel, expandOneLevel, type TraceModel, visibleRows } from '../model/trace-model';
import { navigate } from '../router';
import { Minimap } from './minimap';
import { downloadTrace, RawJson } from './raw-json';
import { SpanDetail } from './span-detail';
import { TraceHeader } from './trace-header';
import { TraceStatsTable } from './trace-stats';
import { type ViewRange, Waterfall } from './waterfall';

type Tab = 'timeline' | 'stats' | 'json';

interface Props {
  model: TraceModel;
  fromUpload: boolean;
  initialFind: string;
  onFirstRender?: () => void;
}

export const SHORTCUTS: [string, string][] = [
  ['j / ↓', 'next span'],
  ['k / ↑', 'previous span'],
  ['l / →', 'expand span, or go to its first child'],
  ['h / ←', 'collapse span, or go to its parent'],
  ['Home / End', 'first / last span'],
  ['[ / ]', 'collapse / expand one level'],
  ['{ / }', 'collapse / expand all'],
  ['w / s', 'zoom time axis in / out'],
  ['a / d', 'pan time axis left / right'],
  ['0', 'reset zoom'],
  ['/', 'find in trace'],
  ['n / N', 'next / previous match'],
  ['c', 'toggle critical path'],
  ['Esc', 'close detail, clear find'],
  ['?', 'show this help'],
];

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

export function TraceView({ model, fromUpload, initialFind, onFirstRender }: Props) {
  const [tab, setTab] = useState<Tab>('timeline');
  const [collapsed, setCollapsed] = useState<Set<number>>(() => new Set());
  const [selected, setSelected] = useState<number | null>(null);
  const [findText, setFindText] = useState(initialFind);
  const [findQuery, setFindQuery] = useState(initialFind);
  const [matchCursor, setMatchCursor] = useState(-1);
  const [critical, setCritical] = useState(false);
  const [view, setView] = useState<ViewRange>({ start: 0, end: model.duration });
  const [reveal, setReveal] = useState<{ index: number; seq: number } | null>(null);
  const [showHelp, setShowHelp] = useState(false);
  const [compareWith, setCompareWith] = useState('');
  const findInput = useRef<HTMLInputElement>(null);

  const rows = useMemo(() => visibleRows(model, collapsed), [model, collapsed]);
  const matchList = useMemo(() => findSpans(model, findQuery), [model, findQuery]);
  const matches = useMemo(() => (findQuery.trim() ? new Set(matchList) : null), [matchList, findQuery]);
  const criticalPath = useMemo(() => (critical ? computeCriticalPath(model) : null), [model, critical]);
  const selfTimes = useMemo(() => (tab === 'stats' || selected !== null ? computeSelfTimes(model) : null), [model, tab === 'stats' || selected !== null]);

  useEffect(() => {
    onFirstRender?.();
  }, []);

  // Debounce find so typing stays fluid on huge traces; keep `uiFind` in the URL as the Jaeger UI does.
  useEffect(() => {
    const t = setTimeout(() => {
      setFindQuery(findText);
      setMatchCursor(-1);
      const url = new URL(window.location.href);
      if (findText.trim()) url.searchParams.set('uiFind', findText);
      else url.searchParams.delete('uiFind');
      window.history.replaceState(null, '', url.pathname + url.search);
    }, 200);
    return () => clearTimeout(t);
  }, [findText]);

  const focusSpan = (index: number) => {
    // Open every collapsed ancestor (read from the current state: this also runs from key handlers).
    const ancestors = ancestorsOf(model, index);
    setCollapsed((c) => {
      if (!ancestors.some((a) => c.has(a))) return c;
      const next = new Set(c);
      for (const a of ancestors) next.delete(a);
      return next;
    });
    setSelected(index);
    setReveal((r) => ({ index, seq: (r?.seq ?? 0) + 1 }));
  };
  const gotoMatch = (delta: number) => {
    if (matchList.length === 0) return;
    const next = (matchCursor + delta + matchList.length) % matchList.length;
    setMatchCursor(next);
    focusSpan(matchList[next]);
  };
  const toggle = (index: number) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(index)) next.delete(index);
      else next.add(index);
      return next;
    });
  const zoom = (factor: number) =>
    setView((v) => {
      const mid = (v.start + v.end) / 2;
      const half = Math.min(Math.max(((v.end - v.start) * factor) / 2, model.duration / 2000), model.duration / 2);
      const start = Math.max(0, Math.min(mid - half, model.duration - 2 * half));
      return { start, end: start + 2 * half };
    });
  const pan = (fraction: number) =>
    setView((v) => {
      const w = v.end - v.start;
      const start = Math.max(0, Math.min(v.start + w * fraction, model.duration - w));
      return { start, end: start + w };
    });

  const stateRef = useRef({ rows, selected, collapsed });
  stateRef.current = { rows, selected, collapsed };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (isTyping(e)) {
        if (e.key === 'Escape') (e.target as HTMLElement).blur();
        if (e.key === 'Enter' && e.target === findInput.current) {
          e.preventDefault();
          gotoMatch(e.shiftKey ? -1 : 1);
        }
        return;
      }
      const { rows: r, selected: sel, collapsed: col } = stateRef.current;
      const pos = sel === null ? -1 : r.indexOf(sel);
      const select = (p: number) => {
        if (r.length === 0) return;
        const i = r[Math.max(0, Math.min(r.length - 1, p))];
        setSelected(i);
        setReveal((x) => ({ index: i, seq: (x?.seq ?? 0) + 1 }));
      };
      const node = sel === null ? null : model.nodes[sel];
      let handled = true;
      switch (e.key) {
        case 'j':
        case 'ArrowDown':
          select(pos + 1);
          break;
        case 'k':
        case 'ArrowUp':
          select(pos < 0 ? 0 : pos - 1);
          break;
        case 'Home':
          select(0);
          break;
        case 'End':
          select(r.length - 1);
          break;
        case 'l':
        case 'ArrowRight':
          if (node && node.children.length > 0) {
            if (col.has(node.index)) toggle(node.index);
            else focusSpan(node.children[0]);
          }
          break;
        case 'h':
        case 'ArrowLeft':
          if (node) {
            if (node.children.length > 0 && !col.has(node.index)) toggle(node.index);
            else if (node.parent >= 0) focusSpan(node.parent);
          }
          break;
        case '[':
          setCollapsed((c) => collapseOneLevel(model, c));
          break;
        case ']':
          setCollapsed((c) => expandOneLevel(model, c));
          break;
        case '{':
          setCollapsed(collapseAll(model));
          break;
        case '}':
          setCollapsed(new Set());
          break;
        case 'w':
        case '+':
        case '=':
          zoom(0.5);
          break;
        case 's':
        case '-':
          zoom(2);
          break;
        case 'a':
          pan(-0.25);
          break;
        case 'd':
          pan(0.25);
          break;
        case '0':
          setView({ start: 0, end: model.duration });
          break;
        case '/':
          findInput.current?.focus();
          break;
        case 'n':
          gotoMatch(1);
          break;
        case 'N':
          gotoMatch(-1);
          break;
        case 'c':
          setCritical((c) => !c);
          break;
        case 'Escape':
          if (sel !== null) setSelected(null);
          else setFindText('');
          setShowHelp(false);
          break;
        case '?':
          setShowHelp((h) => !h);
          break;
        default:
          handled = false;
      }
      if (handled) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [model, matchList, matchCursor]);

  const zoomed = view.start > 0 || view.end < model.duration;
  return (
    <div class="trace-view">
      <TraceHeader model={model} fromUpload={fromUpload} />
      <div class="tabs" role="tablist">
        {(['timeline', 'stats', 'json'] as const).map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} class={tab === t ? 'active' : ''} onClick={() => setTab(t)}>
            {t === 'timeline' ? 'Timeline' : t === 'stats' ? 'Statistics' : 'JSON'}
          </button>
        ))}
        <span class="spacer" />
        <form
          class="compare-with"
          onSubmit={(e) => {
            e.preventDefault();
            if (compareWith.trim()) navigate(`/trace/${model.traceID}...${compareWith.trim()}`);
          }}
        >
          <input placeholder="Compare with trace ID…" aria-label="Compare with trace ID" value={compareWith} onInput={(e) => setCompareWith((e.target as HTMLInputElement).value)} />
        </form>
        <button onClick={() => downloadTrace(model.trace)}>Download JSON</button>
      </div>
      {tab === 'timeline' && (
        <>
          <Minimap model={model} view={view} onView={setView} />
          <div class="toolbar trace-toolbar">
            <div class="find">
              <input
                ref={findInput}
                type="search"
                name="find"
                placeholder="Find… (service, operation, key=value)"
                aria-label="Find in trace"
                value={findText}
                onInput={(e) => setFindText((e.target as HTMLInputElement).value)}
              />
              {matches && (
                <span class="find-count" aria-live="polite">
                  {matchList.length === 0 ? 'no match' : `${matchCursor >= 0 ? matchCursor + 1 : '–'} of ${matchList.length}`}
                </span>
              )}
              <button onClick={() => gotoMatch(-1)} disabled={matchList.length === 0} aria-label="Previous match" title="Previous match (N)">
                ↑
              </button>
              <button onClick={() => gotoMatch(1)} disabled={matchList.length === 0} aria-label="Next match" title="Next match (n)">
                ↓
              </button>
            </div>
            <div class="segmented">
              <button onClick={() => setCollapsed((c) => collapseOneLevel(model, c))} title="Collapse one level ([)">
                Collapse +1
              </button>
              <button onClick={() => setCollapsed((c) => expandOneLevel(model, c))} title="Expand one level (])">
                Expand +1
              </button>
              <button onClick={() => setCollapsed(collapseAll(model))} title="Collapse all ({)">
                Collapse all
              </button>
              <button onClick={() => setCollapsed(new Set())} title="Expand all (})">
                Expand all
              </button>
            </div>
            <button class={critical ? 'active' : ''} aria-pressed={critical} onClick={() => setCritical((c) => !c)} title="Highlight the critical path (c)">
              Critical path
            </button>
            {zoomed && (
              <button onClick={() => setView({ start: 0, end: model.duration })} title="Reset zoom (0)">
                Reset zoom ({formatDuration(view.end - view.start)})
              </button>
            )}
            <span class="spacer" />
            <button class="icon-button" onClick={() => setShowHelp((h) => !h)} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
              ⌨
            </button>
          </div>
          <div class="trace-body">
            <Waterfall
              model={model}
              rows={rows}
              collapsed={collapsed}
              selected={selected}
              matches={matches}
              critical={criticalPath}
              view={view}
              reveal={reveal}
              onToggle={toggle}
              onSelect={(i) => setSelected((s) => (s === i ? null : i))}
            />
            {selected !== null && selfTimes && (
              <SpanDetail model={model} index={selected} selfTime={selfTimes[selected]} onSelect={focusSpan} onClose={() => setSelected(null)} />
            )}
          </div>
        </>
      )}
      {tab === 'stats' && selfTimes && <TraceStatsTable model={model} selfTimes={selfTimes} />}
      {tab === 'json' && <RawJson trace={model.trace} />}
      {showHelp && (
        <div class="help-overlay" role="dialog" aria-label="Keyboard shortcuts" onClick={() => setShowHelp(false)}>
          <div class="help-card">
            <h3>Keyboard shortcuts</h3>
            <table>
              <tbody>
                {SHORTCUTS.map(([k, d]) => (
                  <tr key={k}>
                    <th>
                      <kbd>{k}</kbd>
                    </th>
                    <td>{d}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </div>
  );
}
