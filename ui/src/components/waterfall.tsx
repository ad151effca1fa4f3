// The timeline: one row per visible span, the span tree on the left, bars on a time axis on the right.
// Rows have a fixed height and are virtualised, so a 100k-span trace keeps ~60 rows in the DOM.

import { useEffect, useRef } from 'preact/hooks';
import { serviceColor } from '../colors';
import type { CriticalPath } from '../model/critical-path';
import { formatDuration, timeTicks } from '../model/format';
import type { SpanNode, TraceModel } from '../model/trace-model';
import { useVirtualRows } from './use-virtual-rows';

export const ROW_HEIGHT = 24;
const INDENT = 12;
const MAX_INDENT = 40;

export interface ViewRange {
  /** µs from the trace start. */
  start: number;
  end: number;
}

interface Props {
  model: TraceModel;
  rows: Int32Array;
  collapsed: ReadonlySet<number>;
  selected: number | null;
  matches: ReadonlySet<number> | null;
  critical: CriticalPath | null;
  view: ViewRange;
  /** Bumping `seq` scrolls row `index` (a node index) into view. */
  reveal: { index: number; seq: number } | null;
  onToggle: (index: number) => void;
  onSelect: (index: number) => void;
}

const pct = (x: number) => `${x.toFixed(4)}%`;

function Row(props: {
  node: SpanNode;
  top: number;
  model: TraceModel;
  collapsed: boolean;
  selected: boolean;
  match: boolean | null;
  critical: CriticalPath | null;
  view: ViewRange;
  onToggle: (index: number) => void;
  onSelect: (index: number) => void;
}) {
  const { node, model, view } = props;
  const color = serviceColor(node.service);
  const span = view.end - view.start || 1;
  const relStart = node.start - model.start;
  const left = ((relStart - view.start) / span) * 100;
  const width = Math.max((node.duration / span) * 100, 0.05);
  const labelLeft = left + width;
  // Duration label after the bar, else before it, else inside a bar that fills the row.
  const labelPos = labelLeft <= 80 ? 'after' : left >= 12 ? 'before' : 'inside';
  const labelStyle = labelPos === 'after' ? { left: pct(labelLeft) } : { right: pct(100 - (labelPos === 'before' ? left : Math.min(labelLeft, 100))) };
  const segments = props.critical?.byNode.get(node.index);
  const classes = ['wf-row'];
  if (props.selected) classes.push('selected');
  if (props.match === true) classes.push('match');
  if (props.match === false) classes.push('dim');
  if (node.hasError) classes.push('has-error');
  if (props.critical) classes.push(segments ? 'on-critical' : 'off-critical');
  const logs = node.span.logs;
  return (
    <div
      class={classes.join(' ')}
      style={{ transform: `translateY(${props.top}px)` }}
      data-index={node.index}
      data-span-id={node.spanID}
      role="row"
      aria-selected={props.selected}
      onClick={() => props.onSelect(node.index)}
    >
      <div class="wf-name" style={{ paddingLeft: `${Math.min(node.depth, MAX_INDENT) * INDENT + 4}px` }} role="gridcell">
        <span class="wf-svc-mark" style={{ background: color }} />
        {node.children.length > 0 ? (
          <button
            class="wf-toggle"
            aria-expanded={!props.collapsed}
            aria-label={props.collapsed ? 'Expand' : 'Collapse'}
            onClick={(e) => {
              e.stopPropagation();
              props.onToggle(node.index);
            }}
          >
            {props.collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span class="wf-toggle-spacer" />
        )}
        {node.hasError && (
          <span class="err-icon" title="error">
            !
          </span>
        )}
        <span class="wf-svc">{node.service}</span>
        <span class="wf-op" title={node.operation}>
          {node.operation}
        </span>
        {node.depth > MAX_INDENT && <span class="wf-depth">depth {node.depth}</span>}
        {node.missingParent !== null && (
          <span class="orphan-badge" title={`parent span ${node.missingParent} is not in this trace`}>
            orphan
          </span>
        )}
        {props.collapsed && <span class="wf-hidden-count">+{node.subtreeSize - 1}</span>}
      </div>
      <div class="wf-timeline" role="gridcell">
        <div class="wf-bar" style={{ left: pct(left), width: pct(width), background: color }} />
        {segments?.map((s) => (
          <div
            key={s.start}
            class="wf-critical"
            style={{ left: pct(((s.start - model.start - view.start) / span) * 100), width: pct(Math.max(((s.end - s.start) / span) * 100, 0.05)) }}
          />
        ))}
        {logs && logs.length > 0 && logs.length <= 50 &&
          logs.map((l, i) => <div key={i} class="wf-log-tick" style={{ left: pct(((l.timestamp - model.start - view.start) / span) * 100) }} />)}
        <span class={`wf-bar-label ${labelPos}`} style={labelStyle}>
          {formatDuration(node.duration)}
        </span>
      </div>
    </div>
  );
}

export function Waterfall(props: Props) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const { model, rows, view } = props;
  const virt = useVirtualRows(rows.length, ROW_HEIGHT, () => scrollRef.current);

  useEffect(() => {
    if (!props.reveal) return;
    const pos = rows.indexOf(props.reveal.index);
    if (pos >= 0) virt.scrollToIndex(pos, { align: 'auto' });
  }, [props.reveal?.seq]);

  const span = view.end - view.start || 1;
  const ticks = timeTicks(span, 6);
  return (
    <div class="waterfall" role="grid" aria-label="Span timeline" aria-rowcount={rows.length}>
      <div class="wf-header">
        <div class="wf-name">Service &amp; Operation</div>
        <div class="wf-timeline">
          {ticks
            .filter((t) => t / span < 0.94)
            .map((t) => (
              <span key={t} class="wf-tick" style={{ left: pct((t / span) * 100) }}>
                {formatDuration(view.start + t)}
              </span>
            ))}
        </div>
      </div>
      <div class="wf-scroll" ref={scrollRef}>
        <div class="wf-inner" style={{ height: `${virt.getTotalSize()}px` }}>
          <div class="wf-gridlines" aria-hidden="true">
            {ticks.map((t) => (
              <span key={t} style={{ left: pct((t / span) * 100) }} />
            ))}
          </div>
          {virt.getVirtualItems().map((item) => {
            const index = rows[item.index];
            const node = model.nodes[index];
            return (
              <Row
                key={index}
                node={node}
                top={item.start}
                model={model}
                collapsed={props.collapsed.has(index)}
                selected={props.selected === index}
                match={props.matches ? props.matches.has(index) : null}
                critical={props.critical}
                view={view}
                onToggle={props.onToggle}
                onSelect={props.onSelect}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}
