//! What a bench run measured, as JSON and as a table.

use std::fmt::Write as _;

use serde::Serialize;
use spoor_loadgen::Summary;

use crate::stats::ColumnBytes;

/// One ingest run against one server, in one round.
#[derive(Debug, Clone, Serialize)]
pub struct IngestRun {
    /// The peer: `rotel (receive-and-drop)`, `spoor`, `spoor (pipeline config)`, `jaeger`.
    pub target: String,
    /// 0-based round.
    pub round: u32,
    pub spans_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    /// CPU seconds the server used during the run (user + system), from `/proc/<pid>/stat`.
    pub server_cpu_s: Option<f64>,
    /// Server CPU seconds per million acknowledged spans: the noise-robust cost figure.
    pub server_cpu_s_per_m_spans: Option<f64>,
    /// CPU seconds the load generator (this process) used during the run.
    pub loadgen_cpu_s: Option<f64>,
    pub loadgen: Summary,
}

/// One peer's ingest over all rounds.
#[derive(Debug, Clone, Serialize)]
pub struct PeerIngest {
    pub target: String,
    pub rounds: usize,
    pub median_spans_per_s: f64,
    pub min_spans_per_s: f64,
    pub max_spans_per_s: f64,
    pub median_server_cpu_s_per_m_spans: Option<f64>,
    pub max_peak_rss_mib: Option<f64>,
    pub spans_acked: u64,
    pub requests_failed: u64,
    pub requests_retried: u64,
}

/// `a` against `b`, each the median over rounds of the ratio within one round.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub a: String,
    pub b: String,
    /// `a`'s spans/s over `b`'s.
    pub spans_per_s: Option<f64>,
    /// `a`'s server CPU per span over `b`'s (above 1: `a` costs more).
    pub cpu_per_span: Option<f64>,
}

/// Stored size of the preloaded store.
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    pub spans: u64,
    pub traces: u64,
    /// OTLP protobuf bytes per span as sent.
    pub wire_bytes_per_span: f64,
    pub data_dir_bytes: u64,
    /// Bytes the file system allocated for the data directory (sparse files count as used).
    pub allocated_bytes: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    /// Block bytes per span: Spoor's headline figure (`None` for a peer without block files).
    pub block_bytes_per_span: Option<f64>,
    /// Everything in the data directory per span.
    pub data_dir_bytes_per_span: f64,
    /// Allocated bytes per span: the figure compared across peers.
    pub allocated_bytes_per_span: f64,
    /// Seconds from the end of preloading to a clean exit after SIGTERM (flush included).
    pub shutdown_s: f64,
    /// Seconds from start to ready when reopening the store.
    pub reopen_s: f64,
}

/// Peak RSS during one phase of the store run.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRss {
    pub phase: String,
    pub seconds: f64,
    pub peak_rss_mib: Option<f64>,
}

/// One peer's store: preload, size, memory per phase, per-column bytes, queries.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRun {
    pub target: String,
    pub preload_spans_per_s: f64,
    pub storage: Option<Storage>,
    pub rss_phases: Vec<PhaseRss>,
    /// Block bytes per column (from `spoor tool inspect`), largest first; empty when the
    /// binary's inspect output has no column table.
    pub columns: Vec<ColumnBytes>,
    pub queries: Vec<QueryStats>,
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
    pub jaeger_bin: Option<String>,
    pub args: crate::BenchArgs,
    pub started_unix_s: u64,
    pub cores: usize,
    pub load_average_at_start: Option<String>,
    pub load_average_at_end: Option<String>,
    /// Every ingest run, in the order run.
    pub ingest_runs: Vec<IngestRun>,
    /// Per peer, over the rounds.
    pub ingest: Vec<PeerIngest>,
    pub ratios: Vec<Ratio>,
    pub recovery: Option<Recovery>,
    pub stores: Vec<StoreRun>,
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

/// Columns shown in the table (the JSON has all).
const TABLE_COLUMNS: usize = 12;

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

impl BenchReport {
    /// A plain-text table of the headline figures.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        for p in &self.ingest {
            row(
                &format!("ingest {}, spans/s", p.target),
                format!(
                    "{} median of {} rounds ({}–{}), CPU {} s/M spans, peak RSS {} MiB, {} failed / {} retried requests",
                    num(p.median_spans_per_s),
                    p.rounds,
                    num(p.min_spans_per_s),
                    num(p.max_spans_per_s),
                    opt(p.median_server_cpu_s_per_m_spans, 2),
                    opt(p.max_peak_rss_mib, 0),
                    p.requests_failed,
                    p.requests_retried,
                ),
            );
        }
        for r in &self.ratios {
            row(
                &format!("{} / {}", r.a, r.b),
                format!(
                    "spans/s {}, CPU per span {} (medians of per-round ratios)",
                    opt(r.spans_per_s, 3),
                    opt(r.cpu_per_span, 3)
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
        for st in &self.stores {
            let t = &st.target;
            row(
                &format!("[{t}] preload, spans/s"),
                num(st.preload_spans_per_s),
            );
            if let Some(s) = &st.storage {
                row(
                    &format!("[{t}] stored bytes/span"),
                    format!(
                        "blocks {}, data dir {:.1}, allocated {:.1}  ({} spans, {} B blocks, {} B WAL, {:.0} B/span on the wire)",
                        opt(s.block_bytes_per_span, 1),
                        s.data_dir_bytes_per_span,
                        s.allocated_bytes_per_span,
                        num(s.spans as f64),
                        num(s.block_bytes as f64),
                        num(s.wal_bytes as f64),
                        s.wire_bytes_per_span
                    ),
                );
                row(
                    &format!("[{t}] flush + exit / reopen, s"),
                    format!("{:.2} / {:.2}", s.shutdown_s, s.reopen_s),
                );
            }
            for p in &st.rss_phases {
                row(
                    &format!("[{t}] peak RSS {}, MiB", p.phase),
                    format!("{}  ({:.1} s)", opt(p.peak_rss_mib, 0), p.seconds),
                );
            }
            for c in st.columns.iter().take(TABLE_COLUMNS) {
                row(
                    &format!("[{t}] column {}, B/span", c.column),
                    format!("{:.2}", c.bytes_per_span),
                );
            }
            for q in &st.queries {
                let errors = if q.errors.is_empty() {
                    String::new()
                } else {
                    format!(", errors {:?}", q.errors)
                };
                // A TraceQL kind against the Jaeger form of the same predicate.
                let versus = q
                    .name
                    .strip_prefix("traceql")
                    .and_then(|rest| {
                        let jaeger = format!("search{rest}");
                        st.queries.iter().find(|j| j.name == jaeger)
                    })
                    .filter(|j| j.p50_ms > 0.0)
                    .map(|j| format!(", p50 {:.2}x the Jaeger form", q.p50_ms / j.p50_ms))
                    .unwrap_or_default();
                row(
                    &format!("[{t}] {}, p50 / p99 ms", q.name),
                    format!(
                        "{:.1} / {:.1}  ({}/{} ok, {:.1} results{errors}{versus})",
                        q.p50_ms, q.p99_ms, q.ok, q.queries, q.mean_results
                    ),
                );
            }
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "spoor bench: {} cores, load average at start {}, at end {}",
            self.cores,
            self.load_average_at_start.as_deref().unwrap_or("?"),
            self.load_average_at_end.as_deref().unwrap_or("?")
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
