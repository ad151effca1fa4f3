// The JSON tab: the trace as the query API returned it, with a download button. Very large traces show
// only the beginning on screen; the download always has all of it.

import { useMemo } from 'preact/hooks';
import type { JaegerTrace } from '../model/jaeger';

const SHOW_CHARS = 400_000;

export function downloadTrace(trace: JaegerTrace) {
  const blob = new Blob([JSON.stringify({ data: [trace] }, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `trace-${trace.traceID}.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function RawJson({ trace }: { trace: JaegerTrace }) {
  const text = useMemo(() => {
    // Avoid building a 60 MB string for a huge trace just to show its start.
    const small = trace.spans.length <= 2000 ? trace : { ...trace, spans: trace.spans.slice(0, 2000) };
    return JSON.stringify(small, null, 2);
  }, [trace]);
  const cut = text.length > SHOW_CHARS || trace.spans.length > 2000;
  return (
    <div class="raw-json">
      <div class="toolbar">
        <button class="primary" onClick={() => downloadTrace(trace)}>
          Download JSON
        </button>
        {cut && <span class="muted">Showing the beginning only; the download has all {trace.spans.length} spans.</span>}
      </div>
      <pre class="json" aria-label="Trace JSON">
        {cut ? `${text.slice(0, SHOW_CHARS)}\n…` : text}
      </pre>
    </div>
  );
}
