//! What a load run sent and what was acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::run::{LoadgenArgs, Shared, WorkerResult};

/// Request latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What a run sent and what was acknowledged.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub endpoint: String,
    pub seed: u64,
    pub batch_spans: usize,
    pub concurrency: usize,
    pub target_rate: Option<u64>,
    /// From the first request to the last answer.
    pub elapsed_s: f64,
    pub requests_sent: u64,
    pub requests_acked: u64,
    pub requests_failed: u64,
    /// Attempts that were refused and sent again (`--retries`).
    pub requests_retried: u64,
    pub traces_sent: u64,
    pub traces_acked: u64,
    pub spans_sent: u64,
    /// Spans in acknowledged requests, less those the server reported as rejected.
    pub spans_acked: u64,
    pub spans_rejected: u64,
    pub bytes_sent: u64,
    /// Acknowledged spans per second of `elapsed_s`.
    pub spans_per_s: f64,
    pub bytes_per_span: f64,
    /// Failed requests by gRPC code name.
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub latency: Latency,
    /// Time senders waited for the generator: large means the load generator, not the server,
    /// was the limit.
    pub generator_wait_s: f64,
}

impl Summary {
    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render summary: {e}\"}}"))
    }
}

pub(crate) fn summarize(
    args: &LoadgenArgs,
    shared: &Shared,
    results: Vec<WorkerResult>,
    elapsed: Duration,
) -> Summary {
    let c = &shared.counters;
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    let mut first_error = None;
    let mut wait = Duration::ZERO;
    for r in results {
        latencies.extend(r.latencies_us);
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        first_error = first_error.or(r.first_error);
        wait += r.generator_wait;
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[i.min(latencies.len() - 1)]) / 1000.0
    };
    let spans_acked = c.spans_acked.load(Ordering::Relaxed);
    let spans_sent = c.spans_sent.load(Ordering::Relaxed);
    let bytes_sent = c.bytes_sent.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    Summary {
        endpoint: args.otlp_grpc.clone(),
        seed: args.seed,
        batch_spans: args.batch_spans,
        concurrency: args.concurrency,
        target_rate: args.rate,
        elapsed_s: secs,
        requests_sent: c.requests_sent.load(Ordering::Relaxed),
        requests_acked: c.requests_acked.load(Ordering::Relaxed),
        requests_failed: c.requests_failed.load(Ordering::Relaxed),
        requests_retried: c.requests_retried.load(Ordering::Relaxed),
        traces_sent: c.traces_sent.load(Ordering::Relaxed),
        traces_acked: c.traces_acked.load(Ordering::Relaxed),
        spans_sent,
        spans_acked,
        spans_rejected: c.spans_rejected.load(Ordering::Relaxed),
        bytes_sent,
        spans_per_s: if secs > 0.0 {
            spans_acked as f64 / secs
        } else {
            0.0
        },
        bytes_per_span: if spans_sent > 0 {
            bytes_sent as f64 / spans_sent as f64
        } else {
            0.0
        },
        errors,
        first_error,
        latency: Latency {
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        },
        generator_wait_s: wait.as_secs_f64(),
    }
}
