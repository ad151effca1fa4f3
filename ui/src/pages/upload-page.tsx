// /upload: open a Jaeger JSON file (as downloaded from the Jaeger UI or `/api/traces`) or an OTLP JSON
// file and view it. Nothing is sent to the server: OTLP is converted in the browser and the traces are
// held in memory until the next upload or a page reload.

import { useState } from 'preact/hooks';
import { ResultList } from '../components/result-list';
import { summarizeTrace, type TraceSummary } from '../model/trace-summary';
import { tracesFromDocument } from '../model/upload';
import { navigate } from '../router';
import { rememberUploaded, uploadedTraces } from '../trace-source';

declare global {
  interface Window {
    spoorUploadPerf?: { startedAt: number; readMs: number; parseMs: number; convertMs: number; bytes: number };
  }
}

export function UploadPage() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState<{ name: string; format: string; summaries: TraceSummary[] } | null>(() => {
    const prior = uploadedTraces();
    return prior.length > 1 ? { name: 'previous upload', format: '', summaries: prior.map(summarizeTrace) } : null;
  });
  const [dragging, setDragging] = useState(false);
  const [selected, setSelected] = useState<string[]>([]);

  const open = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      const t0 = performance.now();
      const text = await file.text();
      const t1 = performance.now();
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new Error(`${file.name} is not valid JSON: ${(e as Error).message}`);
      }
      const t2 = performance.now();
      const result = tracesFromDocument(doc);
      if ('error' in result) throw new Error(`${file.name}: ${result.error}`);
      window.spoorUploadPerf = { startedAt: t0, readMs: t1 - t0, parseMs: t2 - t1, convertMs: performance.now() - t2, bytes: file.size };
      rememberUploaded(result.traces);
      if (result.traces.length === 1) {
        navigate(`/trace/${result.traces[0].traceID}`);
        return;
      }
      setLoaded({ name: file.name, format: result.format, summaries: result.traces.map(summarizeTrace) });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const onFiles = (files: FileList | null) => {
    const f = files?.[0];
    if (f) void open(f);
  };

  return (
    <div class="upload-page">
      <h2>Open a trace file</h2>
      <p class="muted">
        Jaeger JSON (the UI's “Download JSON”, or <code>/api/traces</code> output) or OTLP JSON. The file is read in your browser and not stored.
      </p>
      <label
        class={`drop-zone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          onFiles(e.dataTransfer?.files ?? null);
        }}
      >
        <input type="file" accept=".json,application/json" name="trace-file" onChange={(e) => onFiles((e.target as HTMLInputElement).files)} />
        <span>{busy ? 'Reading…' : 'Drop a JSON file here, or click to choose one'}</span>
      </label>
      {error && (
        <div class="error-box" role="alert">
          {error}
        </div>
      )}
      {loaded && (
        <section class="upload-results">
          <h3>
            {loaded.summaries.length} traces from {loaded.name}
            {loaded.format && <span class="muted"> ({loaded.format})</span>}
          </h3>
          <button class="primary" disabled={selected.length !== 2} onClick={() => navigate(`/trace/${selected[0]}...${selected[1]}`)}>
            Compare {selected.length}/2
          </button>
          <ResultList
            traces={loaded.summaries}
            selected={selected}
            onToggleSelect={(id) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id].slice(-2)))}
          />
        </section>
      )}
    </div>
  );
}
