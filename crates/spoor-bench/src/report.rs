//! What a bench run measured, as JSON and as a table.

use std::fmt::Write as _;

use serde::Serialize;
use spoor_loadgen::Summary;

/// One ingest run against one server.
#[derive(Debug, Clone, Serialize)]
pub struct IngestRun {
    /// `spoor` or `rotel (receive-and-drop)`.
    pub target: String,
    pub spans_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// CPU seconds the server used during the run (user + system), from `/proc/<pid>/stat`.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds the load generator (this process) used during the run.
    pub loadgen_cpu_s: Option<f64>,
    pub loadgen: Summary,
}

/// Stored size of the preloaded store.
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    pub spans: u64,
    pub traces: u64,
    /// OTLP protobuf bytes per span as sent.
    pub wire_bytes_per_span: f64,
    pub data_dir_bytes: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    /// Block bytes per span: the headline figure.
    pub block_bytes_per_span: f64,
    /// Everything in the data directory per span.
    pub data_dir_bytes_per_span: f64,
    /// Seconds from the end of preloading to a clean exit after SIGTERM (flush included).
    pub shutdown_s: f64,
    /// Seconds from start to `/health` 200 when reopening the store.
    pub reopen_s: f64,
}

/// Latencies of one kind of query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryStats {
    pub name: String,
    /// One of the URLs used, as an example.
    pub example: String,
    pub queries: usize,
    pub ok: usize,
    /// Answers other than 200, by status (0 = transport failure).
    pub errors: std::collections::BTreeMap<u16, usize>,
    pub first_error: Option<String>,
    /// Mean traces per answer (searches) or spans per answer (trace by id).
    pub mean_results: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Restart after kill -9 during ingest.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub wal_bytes: u64,
    pub data_dir_bytes: u64,
    /// From spawning the restarted process to `/health` answering 200.
    pub seconds: f64,
    pub seconds_per_gib_of_wal: Option<f64>,
}

/// Everything one `spoor bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub spoor_bin: String,
    pub spoor_version: Option<String>,
    pub args: crate::BenchArgs,
    pub started_unix_s: u64,
    pub cores: usize,
    pub load_average_at_start: Option<String>,
    pub baseline: Option<IngestRun>,
    pub ingest: Option<IngestRun>,
    /// Spoor's ingest rate over the baseline's, in the same run.
    pub ingest_ratio: Option<f64>,
    pub recovery: Option<Recovery>,
    pub storage: Option<Storage>,
    pub queries: Vec<QueryStats>,
    /// Whatever could not be measured, and why.
    pub notes: Vec<String>,
}

fn num(x: f64) -> String {
    let whole = x.round() as i64;
    let digits = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

impl BenchReport {
    /// A plain-text table of the headline figures.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        for run in self.ingest.iter().chain(&self.baseline) {
            row(
                &format!("ingest {}, spans/s", run.target),
                format!(
                    "{}  ({} spans, {} failed / {} retried requests, request p99 {:.0} ms{}{})",
                    num(run.spans_per_s),
                    num(run.loadgen.spans_acked as f64),
                    run.loadgen.requests_failed,
                    run.loadgen.requests_retried,
                    run.loadgen.latency.p99_ms,
                    run.server_cpu_s
                        .map(|c| format!(", server CPU {c:.1} s"))
                        .unwrap_or_default(),
                    run.loadgen_cpu_s
                        .map(|c| format!(", loadgen CPU {c:.1} s"))
                        .unwrap_or_default()
                ),
            );
            if let Some(rss) = run.peak_rss_mib {
                row(
                    &format!("peak RSS {}, MiB", run.target),
                    format!("{rss:.0}"),
                );
            }
        }
        if let Some(r) = self.ingest_ratio {
            row("ingest ratio spoor / baseline", format!("{r:.2}"));
        }
        if let Some(s) = &self.storage {
            row(
                "stored bytes/span (blocks)",
                format!(
                    "{:.1}  ({} spans, {} B blocks, {} B WAL, {:.0} B/span on the wire)",
                    s.block_bytes_per_span,
                    num(s.spans as f64),
                    num(s.block_bytes as f64),
                    num(s.wal_bytes as f64),
                    s.wire_bytes_per_span
                ),
            );
            row(
                "stored bytes/span (whole data dir)",
                format!("{:.1}", s.data_dir_bytes_per_span),
            );
            row(
                "flush + exit / reopen, s",
                format!("{:.2} / {:.2}", s.shutdown_s, s.reopen_s),
            );
        }
        for q in &self.queries {
            let errors = if q.errors.is_empty() {
                String::new()
            } else {
                format!(", errors {:?}", q.errors)
            };
            row(
                &format!("{}, p50 / p99 ms", q.name),
                format!(
                    "{:.1} / {:.1}  ({}/{} ok, {:.1} results{errors})",
                    q.p50_ms, q.p99_ms, q.ok, q.queries, q.mean_results
                ),
            );
        }
        if let Some(r) = &self.recovery {
            row(
                "WAL recovery after kill -9, s",
                format!(
                    "{:.2}  ({} B WAL{})",
                    r.seconds,
                    num(r.wal_bytes as f64),
                    r.seconds_per_gib_of_wal
                        .map(|x| format!(", {x:.1} s/GiB"))
                        .unwrap_or_default()
                ),
            );
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "spoor bench: {} cores, load average at start {}",
            self.cores,
            self.load_average_at_start.as_deref().unwrap_or("?")
        );
        for (k, v) in rows {
            let _ = writeln!(out, "{k:width$}  {v}");
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn groups_thousands() {
        assert_eq!(num(1234567.4), "1,234,567");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(-1000.0), "-1,000");
    }
}
