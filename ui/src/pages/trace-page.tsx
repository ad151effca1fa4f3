// /trace/{traceID}: loads the trace (uploaded file or query API), builds the model, shows the view.
// Records timings in `window.spoorPerf` for the performance test.

import { useEffect, useState } from 'preact/hooks';
import { TraceView } from '../components/trace-view';
import { buildTraceModel, type TraceModel } from '../model/trace-model';
import { loadTrace } from '../trace-source';

type State = { kind: 'loading' } | { kind: 'error'; message: string; notFound: boolean } | { kind: 'ready'; model: TraceModel; fromUpload: boolean };

export interface PerfRecord {
  /** performance.now() when the page mounted and when the first rows were painted. */
  mountedAt?: number;
  renderedAt?: number;
  fetchMs?: number;
  modelMs?: number;
  firstRenderMs?: number;
  spans?: number;
}

declare global {
  interface Window {
    spoorPerf?: PerfRecord;
  }
}

export function TracePage({ traceID, search }: { traceID: string; search: URLSearchParams }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [t0] = useState(() => performance.now());

  useEffect(() => {
    const ac = new AbortController();
    const perf: PerfRecord = { mountedAt: t0 };
    window.spoorPerf = perf;
    loadTrace(traceID, ac.signal)
      .then(({ trace, fromUpload }) => {
        const t1 = performance.now();
        perf.fetchMs = t1 - t0;
        const model = buildTraceModel(trace);
        perf.modelMs = performance.now() - t1;
        perf.spans = model.nodes.length;
        setState({ kind: 'ready', model, fromUpload });
      })
      .catch((e: Error & { status?: number }) => {
        if (e.name === 'AbortError') return;
        setState({ kind: 'error', message: e.message, notFound: e.status === 404 });
      });
    return () => ac.abort();
  }, [traceID]);

  if (state.kind === 'loading') return <div class="loading">Loading trace {traceID}…</div>;
  if (state.kind === 'error') {
    return (
      <div class="empty-state">
        <h2>{state.notFound ? 'Trace not found' : 'Could not load the trace'}</h2>
        <p class="error-box" role="alert">
          {state.message}
        </p>
        <p>
          <a href="/search">Search traces</a> or <a href="/upload">open a file</a>.
        </p>
      </div>
    );
  }
  const onFirstRender = () => {
    requestAnimationFrame(() => {
      const perf = window.spoorPerf;
      if (perf) {
        perf.renderedAt = performance.now();
        perf.firstRenderMs = perf.renderedAt - t0;
      }
      document.body.dataset.traceRendered = state.model.traceID;
    });
  };
  return <TraceView model={state.model} fromUpload={state.fromUpload} initialFind={search.get('uiFind') ?? ''} onFirstRender={onFirstRender} />;
}
