// Find in trace: which spans match the text typed into the trace view's find box.
//
// The text is split on spaces; every word must match. A word `key=value` matches a tag, process tag or
// log field with that key and a value containing `value`; any other word matches, case-insensitively,
// part of the service, operation, span ID, or a tag or log key or value.

import { formatTagValue, type KeyValue } from './jaeger';
import type { SpanNode, TraceModel } from './trace-model';

function pushTags(out: string[], tags: KeyValue[] | null | undefined) {
  if (!tags) return;
  for (const t of tags) out.push(`${t.key}=${formatTagValue(t)}`.toLowerCase());
}

/** Lower-cased `key=value` strings of a span, plus its names; built once per span and cached. */
function haystackOf(model: TraceModel, node: SpanNode): string[] {
  const out = [node.service.toLowerCase(), node.operation.toLowerCase(), node.spanID.toLowerCase()];
  pushTags(out, node.span.tags);
  for (const log of node.span.logs ?? []) pushTags(out, log.fields);
  pushTags(out, model.trace.processes[node.span.processID]?.tags ?? node.span.process?.tags);
  return out;
}

const cache = new WeakMap<TraceModel, string[][]>();

function wordMatches(hay: string[], word: string): boolean {
  const eq = word.indexOf('=');
  if (eq > 0) {
    const key = word.slice(0, eq + 1);
    const value = word.slice(eq + 1);
    return hay.some((h) => h.startsWith(key) && h.slice(key.length).includes(value));
  }
  return hay.some((h) => h.includes(word));
}

/** Node indices (depth-first order) of the spans matching `text`; empty text matches nothing. */
export function findSpans(model: TraceModel, text: string): number[] {
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  let hays = cache.get(model);
  if (!hays) {
    hays = model.nodes.map((n) => haystackOf(model, n));
    cache.set(model, hays);
  }
  const out: number[] = [];
  for (let i = 0; i < hays.length; i++) {
    if (words.every((w) => wordMatches(hays[i], w))) out.push(i);
  }
  return out;
}
