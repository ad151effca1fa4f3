// /trace/{a}...{b} and /compare?a=&b=: two traces side by side as a structural diff — which
// (service, operation) paths occur more or less often in B than in A, and how their time changed.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { serviceColor } from '../colors';
import { type DiffRow, diffTraces, summarizeDiff } from '../model/diff';
import { formatDuration, formatTimestamp } from '../model/format';
import { buildTraceModel, type TraceModel } from '../model/trace-model';
import { navigate } from '../router';
import { loadTrace } from '../trace-source';

type Side = { kind: 'empty' } | { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; model: TraceModel };

function useTraceModel(id: string): Side {
  const [side, setSide] = useState<Side>({ kind: id ? 'loading' : 'empty' });
  useEffect(() => {
    if (!id) {
      setSide({ kind: 'empty' });
      return undefined;
    }
    const ac = new AbortController();
    setSide({ kind: 'loading' });
    loadTrace(id, ac.signal)
      .then(({ trace }) => setSide({ kind: 'ready', model: buildTraceModel(trace) }))
      .catch((e: Error) => e.name !== 'AbortError' && setSide({ kind: 'error', message: e.message }));
    return () => ac.abort();
  }, [id]);
  return side;
}

function SideCard({ label, side, id }: { label: string; side: Side; id: string }) {
  return (
    <div class={`compare-card side-${label.toLowerCase()}`}>
      <span class="side-label">{label}</span>
      {side.kind === 'empty' && <span class="muted">no trace chosen</span>}
      {side.kind === 'loading' && <span class="muted">loading {id}…</span>}
      {side.kind === 'error' && (
        <span class="error-text" role="alert">
          {id}: {side.message}
        </span>
      )}
      {side.kind === 'ready' && (
        <>
          <a href={`/trace/${side.model.traceID}`} class="compare-name">
            {side.model.rootService}: {side.model.rootOperation}
          </a>
          <span class="mono muted">{side.model.traceID}</span>
          <span>
            {formatDuration(side.model.duration)} · {side.model.nodes.length} spans · {side.model.errorCount} errors · {formatTimestamp(side.model.start)}
          </span>
        </>
      )}
    </div>
  );
}

const STATUS_TEXT: Record<DiffRow['status'], string> = { added: 'only in B', removed: 'only in A', more: 'more in B', fewer: 'fewer in B', same: 'same count' };

function delta(a: number, b: number, fmt: (x: number) => string): string {
  const d = b - a;
  if (d === 0) return '0';
  return `${d > 0 ? '+' : '−'}${fmt(Math.abs(d))}`;
}

/** `slower`/`faster` when B's time differs from A's by more than 10 %. */
function timeTrend(r: DiffRow): string {
  if (r.a.count === 0 || r.b.count === 0) return '';
  const d = r.b.total - r.a.total;
  if (Math.abs(d) <= 0.1 * r.a.total) return '';
  return d > 0 ? 'slower' : 'faster';
}

function DiffTable({ rows }: { rows: DiffRow[] }) {
  const [hideSame, setHideSame] = useState(false);
  const [closed, setClosed] = useState<Set<string>>(() => new Set());
  const shown: DiffRow[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(hideSame && r.status === 'same')) shown.push(r);
    if (closed.has(r.key)) i += r.descendants;
  }
  const s = summarizeDiff(rows);
  return (
    <div class="diff">
      <div class="toolbar">
        <span class="pill diff-added">{s.added} only in B</span>
        <span class="pill diff-removed">{s.removed} only in A</span>
        <span class="pill diff-changed">{s.changed} changed count</span>
        <span class="pill">{s.same} same count</span>
        <label class="inline">
          <input type="checkbox" checked={hideSame} onChange={() => setHideSame((h) => !h)} /> hide unchanged
        </label>
      </div>
      <table class="diff-table" aria-label="Trace comparison">
        <thead>
          <tr>
            <th>Service: operation (path from the root)</th>
            <th class="num">Count A</th>
            <th class="num">Count B</th>
            <th class="num">Δ count</th>
            <th class="num">Time A</th>
            <th class="num">Time B</th>
            <th class="num">Δ time</th>
            <th>Change</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.key} class={`diff-row diff-${r.status}`} data-status={r.status}>
              <td style={{ paddingLeft: `${Math.min(r.depth, 30) * 14 + 6}px` }}>
                {r.descendants > 0 ? (
                  <button
                    class="wf-toggle"
                    aria-expanded={!closed.has(r.key)}
                    onClick={() =>
                      setClosed((c) => {
                        const next = new Set(c);
                        if (next.has(r.key)) next.delete(r.key);
                        else next.add(r.key);
                        return next;
                      })
                    }
                  >
                    {closed.has(r.key) ? '▸' : '▾'}
                  </button>
                ) : (
                  <span class="wf-toggle-spacer" />
                )}
                <span class="wf-svc-mark" style={{ background: serviceColor(r.service) }} />
                <b>{r.service}</b>: {r.operation}
              </td>
              <td class="num">{r.a.count}</td>
              <td class="num">{r.b.count}</td>
              <td class="num">{delta(r.a.count, r.b.count, String)}</td>
              <td class="num">{r.a.count ? formatDuration(r.a.total) : '–'}</td>
              <td class="num">{r.b.count ? formatDuration(r.b.total) : '–'}</td>
              <td class={`num ${timeTrend(r)}`}>{delta(r.a.total, r.b.total, formatDuration)}</td>
              <td>
                <span class={`diff-status diff-${r.status}`}>{STATUS_TEXT[r.status]}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ComparePage({ a, b }: { a: string; b: string }) {
  const left = useTraceModel(a);
  const right = useTraceModel(b);
  const [idA, setIdA] = useState(a);
  const [idB, setIdB] = useState(b);
  useEffect(() => {
    setIdA(a);
    setIdB(b);
  }, [a, b]);
  const rows = useMemo(
    () => (left.kind === 'ready' && right.kind === 'ready' ? diffTraces(left.model, right.model) : null),
    [left, right],
  );
  return (
    <div class="compare-page">
      <form
        class="compare-form toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (idA.trim() && idB.trim()) navigate(`/trace/${idA.trim()}...${idB.trim()}`);
          else navigate(`/compare?a=${encodeURIComponent(idA.trim())}&b=${encodeURIComponent(idB.trim())}`);
        }}
      >
        <h2>Compare traces</h2>
        <input name="a" placeholder="Trace A ID" aria-label="Trace A ID" value={idA} onInput={(e) => setIdA((e.target as HTMLInputElement).value)} />
        <span>vs</span>
        <input name="b" placeholder="Trace B ID" aria-label="Trace B ID" value={idB} onInput={(e) => setIdB((e.target as HTMLInputElement).value)} />
        <button class="primary" type="submit">
          Compare
        </button>
      </form>
      <div class="compare-cards">
        <SideCard label="A" side={left} id={a} />
        <SideCard label="B" side={right} id={b} />
      </div>
      {rows ? (
        <DiffTable rows={rows} />
      ) : (
        left.kind !== 'loading' &&
        right.kind !== 'loading' && (
          <div class="empty-state">
            <p>
              Enter two trace IDs, or select two traces in the <a href="/search">search results</a> and press Compare.
            </p>
          </div>
        )
      )}
    </div>
  );
}
