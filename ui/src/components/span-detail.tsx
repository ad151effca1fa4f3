// The span detail panel: everything about the selected span.

import type { ComponentChildren } from 'preact';
import { serviceColor } from '../colors';
import { formatDuration, formatTimestamp } from '../model/format';
import { formatTagValue, type KeyValue, tagValue } from '../model/jaeger';
import { resourceOf } from '../model/span-facts';
import { sameTraceId, type TraceModel } from '../model/trace-model';

interface Props {
  model: TraceModel;
  index: number;
  selfTime: number;
  onSelect: (index: number) => void;
  onClose: () => void;
}

/** Tags shown in the header rather than in the attribute table. */
const HEADER_KEYS = new Set(['span.kind', 'otel.status_code', 'otel.status_description', 'otel.scope.name', 'otel.scope.version']);

function TagTable({ tags, label }: { tags: KeyValue[]; label: string }) {
  if (tags.length === 0) return <p class="muted">none</p>;
  return (
    <table class="kv" aria-label={label}>
      <tbody>
        {tags.map((t, i) => (
          <tr key={`${t.key}-${i}`} data-key={t.key}>
            <th scope="row">{t.key}</th>
            <td class={`kv-${t.type}`}>
              <span class="kv-value">{formatTagValue(t)}</span>
              {t.type !== 'string' && <span class="kv-type">{t.type}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Section({ title, count, open = true, name, children }: { title: ComponentChildren; count?: number; open?: boolean; name?: string; children: ComponentChildren }) {
  return (
    <details class="detail-section" open={open} data-section={name}>
      <summary>
        {title}
        {count !== undefined && <span class="count">{count}</span>}
      </summary>
      {children}
    </details>
  );
}

export function SpanDetail({ model, index, selfTime, onSelect, onClose }: Props) {
  const node = model.nodes[index];
  const span = node.span;
  const tags = span.tags ?? [];
  const resource = resourceOf(model.trace, span);
  const status = tagValue(tags, 'otel.status_code');
  const statusText = tagValue(tags, 'otel.status_description');
  const scopeName = tagValue(tags, 'otel.scope.name');
  const scopeVersion = tagValue(tags, 'otel.scope.version');
  const attributes = tags.filter((t) => !HEADER_KEYS.has(t.key));
  const logs = span.logs ?? [];
  const refs = span.references ?? [];
  const warnings = span.warnings ?? [];
  const statusLabel = status ? String(status) : node.hasError ? 'ERROR' : 'UNSET';

  return (
    <aside class="span-detail" aria-label="Span detail">
      <header class="detail-head">
        <div class="detail-title">
          <span class="wf-svc-mark" style={{ background: serviceColor(node.service) }} />
          <h3>{node.operation}</h3>
          <button class="icon-button" onClick={onClose} aria-label="Close span detail" title="Close (Esc)">
            ×
          </button>
        </div>
        <dl class="detail-facts">
          <div>
            <dt>Service</dt>
            <dd>{node.service}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{formatDuration(node.duration)}</dd>
          </div>
          <div>
            <dt>Self time</dt>
            <dd>{formatDuration(selfTime)}</dd>
          </div>
          <div>
            <dt>Start</dt>
            <dd title={formatTimestamp(node.start, 'utc')}>
              +{formatDuration(node.start - model.start)} · {formatTimestamp(node.start)}
            </dd>
          </div>
          <div>
            <dt>Kind</dt>
            <dd class="span-kind">{node.kind ?? 'unspecified'}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd class={`status status-${statusLabel.toLowerCase()}`}>
              {statusLabel}
              {statusText ? `: ${statusText}` : ''}
            </dd>
          </div>
          <div>
            <dt>Scope</dt>
            <dd>{scopeName ? `${scopeName}${scopeVersion ? ` ${scopeVersion}` : ''}` : <span class="muted">–</span>}</dd>
          </div>
          <div>
            <dt>Span ID</dt>
            <dd class="mono">{node.spanID}</dd>
          </div>
        </dl>
        {node.missingParent !== null && (
          <p class="warn-box">
            Orphan: its parent span <code>{node.missingParent}</code> is not in this trace (not received, or dropped).
          </p>
        )}
      </header>
      <div class="detail-body">
        {warnings.length > 0 && (
          <Section title="Warnings" count={warnings.length}>
            <ul class="warnings">
              {warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          </Section>
        )}
        <Section title="Attributes" count={attributes.length}>
          <TagTable tags={attributes} label="Span attributes" />
        </Section>
        <Section
          name="resource"
          title={
            <>
              Resource <span class="resource-name">{resource.heading}</span>
            </>
          }
          count={resource.attributes.length}
          open={resource.attributes.length <= 12}
        >
          <TagTable tags={resource.attributes} label="Resource attributes" />
        </Section>
        <Section title="Events" count={logs.length}>
          {logs.length === 0 ? (
            <p class="muted">none</p>
          ) : (
            <ol class="events">
              {logs.map((log, i) => {
                const name = log.fields.find((f) => f.key === 'event');
                return (
                  <li key={i}>
                    <div class="event-head">
                      <span class="event-time" title={formatTimestamp(log.timestamp)}>
                        +{formatDuration(log.timestamp - node.start)}
                      </span>
                      <b>{name ? formatTagValue(name) : 'log'}</b>
                    </div>
                    <TagTable tags={log.fields.filter((f) => f !== name)} label="Event fields" />
                  </li>
                );
              })}
            </ol>
          )}
        </Section>
        <Section title="References" count={refs.length}>
          {refs.length === 0 ? (
            <p class="muted">none (a root span)</p>
          ) : (
            <ul class="refs">
              {refs.map((r, i) => {
                const sameTrace = !r.traceID || sameTraceId(r.traceID, model.traceID);
                const target = sameTrace ? model.byId.get(r.spanID) : undefined;
                return (
                  <li key={i}>
                    <span class="ref-type">{r.refType === 'CHILD_OF' ? 'child of' : 'follows from'}</span>{' '}
                    {target !== undefined ? (
                      <button class="link" onClick={() => onSelect(target)}>
                        {model.nodes[target].service}: {model.nodes[target].operation} <span class="mono">{r.spanID}</span>
                      </button>
                    ) : sameTrace ? (
                      <span>
                        <span class="mono">{r.spanID}</span> <span class="muted">(not in this trace)</span>
                      </span>
                    ) : (
                      <a href={`/trace/${r.traceID}`}>
                        span <span class="mono">{r.spanID}</span> in trace <span class="mono">{r.traceID}</span>
                      </a>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </Section>
      </div>
    </aside>
  );
}
