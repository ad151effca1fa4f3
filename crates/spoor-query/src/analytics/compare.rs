//! Regression analysis: per operation, latency percentiles, error rate and call count in a
//! baseline and a current set of spans, the operations that regressed most first.

use std::collections::BTreeMap;

use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{attr, service_name};
use spoor_storage::Trace;

/// Which spans of the traces read are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanFilter {
    /// Only spans of this service (`service.name`); all when `None`.
    pub service: Option<String>,
    /// Only spans whose resource has this `service.version`; all when `None`.
    pub version: Option<String>,
    /// Only spans that started in `[start, end]` (unix nanoseconds).
    pub start: u64,
    pub end: u64,
}

/// An operation's figures in one window (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationStats {
    pub calls: u64,
    pub errors: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

impl OperationStats {
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }

    fn of(mut durations: Vec<u64>, errors: u64) -> Self {
        durations.sort_unstable();
        Self {
            calls: durations.len() as u64,
            errors,
            p50: percentile(&durations, 0.50),
            p95: percentile(&durations, 0.95),
            p99: percentile(&durations, 0.99),
        }
    }
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One operation compared between the two windows.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationChange {
    pub service: String,
    pub operation: String,
    pub baseline: OperationStats,
    pub current: OperationStats,
    /// `(current p95 - baseline p95) / baseline p95`; `None` when one side has no calls.
    pub p95_change: Option<f64>,
    /// Same for the median.
    pub p50_change: Option<f64>,
    /// `current error rate - baseline error rate`.
    pub error_rate_change: f64,
    /// What the list is sorted by: `p95_change + error_rate_change` (an operation seen in
    /// only one window sorts after every compared one).
    pub regression: Option<f64>,
}

fn relative(base: u64, cur: u64) -> f64 {
    if base == 0 {
        if cur == 0 { 0.0 } else { f64::INFINITY }
    } else {
        (cur as f64 - base as f64) / base as f64
    }
}

type Key = (String, String);

fn collect(traces: &[Trace], filter: &SpanFilter) -> BTreeMap<Key, (Vec<u64>, u64)> {
    let mut out: BTreeMap<Key, (Vec<u64>, u64)> = BTreeMap::new();
    for rs in traces.iter().flat_map(|t| &t.resource_spans) {
        let service = service_name(rs.resource.as_ref());
        if filter.service.as_deref().is_some_and(|s| s != service) {
            continue;
        }
        if let Some(version) = &filter.version {
            let attrs = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            if attr::find_str(attrs, "service.version") != Some(version.as_str()) {
                continue;
            }
        }
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            if span.start_time_unix_nano < filter.start || span.start_time_unix_nano > filter.end {
                continue;
            }
            let entry = out
                .entry((service.to_string(), span.name.clone()))
                .or_default();
            entry.0.push(
                span.end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano),
            );
            if span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32)
            {
                entry.1 += 1;
            }
        }
    }
    out
}

/// Compares the spans `baseline_filter` selects in `baseline` with those `current_filter`
/// selects in `current`, per (service, operation); the most regressed first, then by name.
pub fn compare(
    baseline: &[Trace],
    baseline_filter: &SpanFilter,
    current: &[Trace],
    current_filter: &SpanFilter,
) -> Vec<OperationChange> {
    let mut base = collect(baseline, baseline_filter);
    let cur = collect(current, current_filter);
    let mut keys: Vec<Key> = base.keys().chain(cur.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut cur = cur;
    let mut out: Vec<OperationChange> = keys
        .into_iter()
        .map(|key| {
            let b = base
                .remove(&key)
                .map(|(d, e)| OperationStats::of(d, e))
                .unwrap_or_default();
            let c = cur
                .remove(&key)
                .map(|(d, e)| OperationStats::of(d, e))
                .unwrap_or_default();
            let both = b.calls > 0 && c.calls > 0;
            let p95_change = both.then(|| relative(b.p95, c.p95));
            let p50_change = both.then(|| relative(b.p50, c.p50));
            let error_rate_change = c.error_rate() - b.error_rate();
            OperationChange {
                service: key.0,
                operation: key.1,
                regression: p95_change.map(|p| p + error_rate_change),
                p95_change,
                p50_change,
                error_rate_change,
                baseline: b,
                current: c,
            }
        })
        .collect();
    out.sort_by(|a, b| match (a.regression, b.regression) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    out
}
