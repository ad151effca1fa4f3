// The list of search results. Rendered in growing chunks as the user scrolls, so 1,500 results
// appear at once without building 1,500 rows up front.

import { useEffect, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../colors';
import { formatDuration, formatRelative, formatTimestamp } from '../model/format';
import type { TraceSummary } from '../model/trace-summary';

interface Props {
  traces: TraceSummary[];
  selected: string[];
  onToggleSelect: (traceID: string) => void;
}

const CHUNK = 100;

function ResultItem({ t, maxDuration, checked, onToggle, now }: { t: TraceSummary; maxDuration: number; checked: boolean; onToggle: () => void; now: number }) {
  return (
    <li class={`result${checked ? ' selected' : ''}`} data-trace-id={t.traceID}>
      <div class="result-head">
        <input type="checkbox" checked={checked} onChange={onToggle} aria-label={`Select ${t.name} for comparison`} />
        <a class="result-name" href={`/trace/${t.traceID}`}>
          {t.name}
        </a>
        <span class="trace-id mono">{t.traceID.slice(0, 7)}</span>
        <span class="result-duration">{formatDuration(t.duration)}</span>
      </div>
      <div class="result-bar" style={{ width: `${maxDuration > 0 ? Math.max(0.5, (100 * t.duration) / maxDuration) : 0}%` }} />
      <div class="result-body">
        <span class="pill">{t.spanCount} spans</span>
        {t.errorCount > 0 && <span class="pill error-pill">{t.errorCount} error{t.errorCount === 1 ? '' : 's'}</span>}
        {t.missingRoot && <span class="pill warn-pill">missing root</span>}
        <span class="result-services">
          {t.services.slice(0, 8).map((s) => (
            <span class="svc-chip" key={s.name} style={{ borderLeftColor: serviceColor(s.name) }} title={`${s.spanCount} spans, ${s.errorCount} errors`}>
              {s.name} ({s.spanCount}){s.errorCount > 0 && <span class="chip-errors"> ⚠ {s.errorCount}</span>}
            </span>
          ))}
          {t.services.length > 8 && <span class="muted">+{t.services.length - 8} more</span>}
        </span>
        <span class="result-start" title={formatTimestamp(t.start)}>
          {formatTimestamp(t.start).slice(0, 19)} · {formatRelative(t.start, now)}
        </span>
      </div>
    </li>
  );
}

export function ResultList({ traces, selected, onToggleSelect }: Props) {
  const [shown, setShown] = useState(CHUNK);
  const sentinel = useRef<HTMLLIElement>(null);
  const maxDuration = traces.reduce((m, t) => Math.max(m, t.duration), 0);
  const now = Date.now();

  useEffect(() => setShown(CHUNK), [traces]);
  useEffect(() => {
    const el = sentinel.current;
    if (!el) return undefined;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setShown((s) => s + CHUNK * 2);
    }, { rootMargin: '600px' });
    io.observe(el);
    return () => io.disconnect();
  }, [shown, traces]);

  return (
    <ol class="result-list" aria-label="Search results">
      {traces.slice(0, shown).map((t) => (
        <ResultItem key={t.traceID} t={t} maxDuration={maxDuration} checked={selected.includes(t.traceID)} onToggle={() => onToggleSelect(t.traceID)} now={now} />
      ))}
      {shown < traces.length && (
        <li ref={sentinel} class="result-more muted">
          Showing {shown} of {traces.length}…
        </li>
      )}
    </ol>
  );
}
