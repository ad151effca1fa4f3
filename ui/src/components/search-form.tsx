// The search form on the left of the search page. Its state comes from the URL and goes back to the
// URL on submit; the page runs the search from the URL.

import { useEffect, useState } from 'preact/hooks';
import { fetchOperations, fetchServices } from '../api';
import { fromDateTimeInput, LOOKBACKS, type TimeZoneMode, toDateTimeInput } from '../model/format';
import type { OperationInfo } from '../model/jaeger';
import { type SearchQuery, splitTraceIds, validateQuery } from '../model/search-query';

interface Props {
  initial: SearchQuery;
  onSubmit: (q: SearchQuery) => void;
}

const inputValue = (e: Event) => (e.target as HTMLInputElement).value;

export function SearchForm({ initial, onSubmit }: Props) {
  const [q, setQ] = useState<SearchQuery>(initial);
  const [traceIdText, setTraceIdText] = useState(initial.traceIDs.join(' '));
  const [services, setServices] = useState<string[] | null>(null);
  const [servicesError, setServicesError] = useState<string | null>(null);
  const [operations, setOperations] = useState<OperationInfo[]>([]);
  const [zone, setZone] = useState<TimeZoneMode>('local');
  const [touched, setTouched] = useState(false);

  // A new URL (back button, bookmark) resets the form.
  useEffect(() => {
    setQ(initial);
    setTraceIdText(initial.traceIDs.join(' '));
  }, [JSON.stringify(initial)]);

  useEffect(() => {
    const ac = new AbortController();
    fetchServices(ac.signal)
      .then((s) => setServices(s))
      .catch((e: Error) => e.name !== 'AbortError' && setServicesError(e.message));
    return () => ac.abort();
  }, []);

  useEffect(() => {
    setOperations([]);
    if (!q.service) return undefined;
    const ac = new AbortController();
    fetchOperations(q.service, ac.signal)
      .then((ops) => setOperations(ops))
      .catch(() => setOperations([]));
    return () => ac.abort();
  }, [q.service]);

  const set = (patch: Partial<SearchQuery>) => setQ((old) => ({ ...old, ...patch }));
  const { errors } = validateQuery(q);
  const invalid = Object.keys(errors).length > 0;
  const opNames = [...new Set(operations.map((o) => o.name))].sort();

  const submit = (e: Event) => {
    e.preventDefault();
    setTouched(true);
    const traceIDs = splitTraceIds(traceIdText);
    if (traceIDs.length === 0 && invalid) return;
    onSubmit({ ...q, traceIDs });
  };

  const nowUs = Date.now() * 1000;
  const customStart = q.start ?? nowUs - 3600e6;
  const customEnd = q.end ?? nowUs;

  return (
    <form class="search-form" onSubmit={submit} aria-label="Search traces">
      <label>
        <span class="label-row">
          Service <span class="muted">({services?.length ?? 0})</span>
        </span>
        <select name="service" value={q.service} onChange={(e) => set({ service: inputValue(e), operation: '' })}>
          <option value="">All services</option>
          {q.service && services && !services.includes(q.service) && <option value={q.service}>{q.service}</option>}
          {(services ?? []).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        {servicesError && <span class="field-error">{servicesError}</span>}
      </label>
      <label>
        <span class="label-row">
          Operation <span class="muted">({opNames.length})</span>
        </span>
        <select name="operation" value={q.operation} onChange={(e) => set({ operation: inputValue(e) })} disabled={!q.service && opNames.length === 0 && !q.operation}>
          <option value="">All operations</option>
          {q.operation && !opNames.includes(q.operation) && <option value={q.operation}>{q.operation}</option>}
          {opNames.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </label>
      <label>
        Tags
        <input
          name="tags"
          placeholder='http.status_code=500 error=true user="a b"'
          value={q.tags}
          onInput={(e) => set({ tags: inputValue(e) })}
          aria-invalid={!!errors.tags}
        />
        <span class="hint">logfmt: key=value, quote values with spaces</span>
        {errors.tags && <span class="field-error">{errors.tags}</span>}
      </label>
      <label>
        Lookback
        <select name="lookback" value={q.lookback} onChange={(e) => {
          const lookback = inputValue(e);
          set(lookback === 'custom' ? { lookback, start: customStart, end: customEnd } : { lookback, start: null, end: null });
        }}>
          {LOOKBACKS.map((l) => (
            <option key={l.value} value={l.value}>
              {l.label}
            </option>
          ))}
          {!LOOKBACKS.some((l) => l.value === q.lookback) && q.lookback !== 'custom' && <option value={q.lookback}>{q.lookback}</option>}
          <option value="custom">Custom time range</option>
        </select>
      </label>
      {q.lookback === 'custom' && (
        <fieldset class="time-range">
          <div class="zone-toggle" role="radiogroup" aria-label="Time zone">
            {(['local', 'utc'] as const).map((z) => (
              <button type="button" key={z} class={zone === z ? 'active' : ''} aria-pressed={zone === z} onClick={() => setZone(z)}>
                {z === 'local' ? 'Local' : 'UTC'}
              </button>
            ))}
          </div>
          <label>
            Start
            <input type="datetime-local" name="start" value={toDateTimeInput(customStart, zone)} onChange={(e) => set({ start: fromDateTimeInput(inputValue(e), zone) })} />
          </label>
          <label>
            End
            <input type="datetime-local" name="end" value={toDateTimeInput(customEnd, zone)} onChange={(e) => set({ end: fromDateTimeInput(inputValue(e), zone) })} />
          </label>
          {errors.range && <span class="field-error">{errors.range}</span>}
        </fieldset>
      )}
      <div class="row2">
        <label>
          Min duration
          <input name="minDuration" placeholder="e.g. 1.2ms" value={q.minDuration} onInput={(e) => set({ minDuration: inputValue(e) })} aria-invalid={!!errors.minDuration} />
          {errors.minDuration && <span class="field-error">{errors.minDuration}</span>}
        </label>
        <label>
          Max duration
          <input name="maxDuration" placeholder="e.g. 1.1s" value={q.maxDuration} onInput={(e) => set({ maxDuration: inputValue(e) })} aria-invalid={!!errors.maxDuration} />
          {errors.maxDuration && <span class="field-error">{errors.maxDuration}</span>}
        </label>
      </div>
      <label>
        Limit results
        <input name="limit" type="number" min={1} max={10000} value={q.limit} onInput={(e) => set({ limit: Number(inputValue(e)) })} />
        {errors.limit && <span class="field-error">{errors.limit}</span>}
      </label>
      <label>
        <span class="label-row">
          Trace IDs <span class="muted">(override the fields above)</span>
        </span>
        <textarea name="traceIDs" rows={2} placeholder="one or more IDs, separated by spaces or commas" value={traceIdText} onInput={(e) => setTraceIdText(inputValue(e))} />
      </label>
      <button type="submit" class="primary" disabled={touched && invalid && splitTraceIds(traceIdText).length === 0}>
        Find Traces
      </button>
    </form>
  );
}
