// The trace view's header: what the trace is, when it ran, how big it is.

import { serviceColor } from '../colors';
import { formatCount, formatDuration, formatTimestamp } from '../model/format';
import type { TraceModel } from '../model/trace-model';

export function TraceHeader({ model, fromUpload }: { model: TraceModel; fromUpload: boolean }) {
  return (
    <header class="trace-header">
      <div class="trace-title">
        <h1>
          <span class="wf-svc-mark" style={{ background: serviceColor(model.rootService) }} />
          {model.rootService}: <span class="trace-op">{model.rootOperation}</span>
        </h1>
        <span class="trace-id mono" title="Trace ID">
          {model.traceID}
        </span>
        {fromUpload && <span class="pill warn-pill">from uploaded file, not stored</span>}
      </div>
      <dl class="trace-facts">
        <div>
          <dt>Start</dt>
          <dd title={formatTimestamp(model.start, 'utc')}>{formatTimestamp(model.start)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-fact="duration">{formatDuration(model.duration)}</dd>
        </div>
        <div>
          <dt>Services</dt>
          <dd data-fact="services">{model.services.length}</dd>
        </div>
        <div>
          <dt>Depth</dt>
          <dd data-fact="depth">{model.depth}</dd>
        </div>
        <div>
          <dt>Total spans</dt>
          <dd data-fact="spans">{formatCount(model.nodes.length)}</dd>
        </div>
        {model.errorCount > 0 && (
          <div>
            <dt>Errors</dt>
            <dd class="error-text" data-fact="errors">{formatCount(model.errorCount)}</dd>
          </div>
        )}
        {model.orphanCount > 0 && (
          <div>
            <dt>Orphans</dt>
            <dd class="warn-text" data-fact="orphans">{formatCount(model.orphanCount)}</dd>
          </div>
        )}
      </dl>
      <div class="trace-services">
        {model.services.map((s) => (
          <span key={s.name} class="svc-chip" style={{ borderLeftColor: serviceColor(s.name) }}>
            {s.name} ({s.spanCount}){s.errorCount > 0 && <span class="chip-errors"> ⚠ {s.errorCount}</span>}
          </span>
        ))}
      </div>
      {model.warnings.length > 0 && (
        <ul class="trace-warnings" aria-label="Trace warnings">
          {model.warnings.map((w, i) => (
            <li key={i}>⚠ {w}</li>
          ))}
        </ul>
      )}
    </header>
  );
}
