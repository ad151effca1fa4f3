// Facts of one span as the detail panel shows them: its kind and its resource. Jaeger JSON has no
// kind field (it is the `span.kind` tag) and no resource (it is the process: a service name plus
// tags), so both are derived here, whichever producer wrote the span.

import { type JaegerSpan, type JaegerTrace, type KeyValue, serviceOf } from './jaeger';

export const SPAN_KINDS = ['server', 'client', 'producer', 'consumer', 'internal'] as const;
export type SpanKind = (typeof SPAN_KINDS)[number];

/** OTLP's numeric kinds (1 internal … 5 consumer), as some converters write them. */
const OTLP_KIND_NUMBERS: Record<number, SpanKind> = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };

/**
 * The span kind a `span.kind` tag value names, in Jaeger's lower-case words: `server`, `SERVER`,
 * `SPAN_KIND_SERVER` and OTLP's number 2 all give `server`. `null` for no value and for
 * `unspecified`; another word is returned lower-cased as it is.
 */
export function kindFromTagValue(value: KeyValue['value'] | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return OTLP_KIND_NUMBERS[value] ?? null;
  let word = String(value).trim().toLowerCase();
  if (word.startsWith('span_kind_')) word = word.slice('span_kind_'.length);
  if (word === '' || word === 'unspecified') return null;
  if (/^\d+$/.test(word)) return OTLP_KIND_NUMBERS[Number(word)] ?? null;
  return word;
}

/** The kind of a span from its tags (the last `span.kind` tag wins, as in Jaeger). */
export function spanKindOf(tags: readonly KeyValue[] | null | undefined): string | null {
  let kind: string | null = null;
  if (!tags) return null;
  for (const t of tags) if (t.key === 'span.kind') kind = kindFromTagValue(t.value) ?? kind;
  return kind;
}

export interface ResourceFacts {
  /** The heading of the resource section: the service name. */
  heading: string;
  /** `service.name` first, then the process tags (without a second `service.name`). */
  attributes: KeyValue[];
}

/** The resource of a span: its process, headed by the service name. */
export function resourceOf(trace: JaegerTrace, span: JaegerSpan): ResourceFacts {
  const service = serviceOf(trace, span);
  const processTags = trace.processes[span.processID]?.tags ?? span.process?.tags ?? [];
  return {
    heading: service,
    attributes: [{ key: 'service.name', type: 'string', value: service }, ...processTags.filter((t) => t.key !== 'service.name')],
  };
}
