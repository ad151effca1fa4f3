//! Jaeger's Monitor (SPM) queries answered from RED aggregates Spoor keeps itself.
//!
//! The pipeline records a snapshot of its cumulative span counters every `step`
//! ([`MonitorStore::record`]); the store keeps the last `window` of them (bounded in snapshots
//! and in series per snapshot). A query takes, for each output timestamp `t`, the snapshots at
//! `t` and at `t − ratePer` and answers from their difference: calls per second, errors over
//! calls, or a latency quantile interpolated in the histogram buckets as Prometheus'
//! `histogram_quantile` does. Answers are Jaeger's `MetricFamily` JSON.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use std::sync::Mutex;

/// One series' cumulative counters at a snapshot: spans of one service, operation and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct RedPoint {
    /// The tenant whose spans these are (`None`: tenancy off).
    pub tenant: Option<String>,
    pub service: String,
    pub operation: String,
    /// `SPAN_KIND_SERVER`, …
    pub kind: String,
    pub calls: f64,
    pub errors: f64,
    /// Per bucket (not cumulative) counts, the last above every bound.
    pub buckets: Vec<f64>,
}

struct Snapshot {
    at_ms: i64,
    /// Upper bounds of the buckets, in seconds.
    bounds: Vec<f64>,
    points: Vec<RedPoint>,
}

/// The in-memory RED history behind `/api/metrics/*`.
pub struct MonitorStore {
    step: Duration,
    capacity: usize,
    max_series: usize,
    snapshots: Mutex<VecDeque<Snapshot>>,
}

impl std::fmt::Debug for MonitorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorStore")
            .field("step", &self.step)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// What a query measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    Calls,
    Errors,
    /// The quantile in (0, 1].
    Latencies(f64),
}

/// Jaeger's query parameters, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorQuery {
    /// Only this tenant's series (`None`: tenancy off, every series).
    pub tenant: Option<String>,
    pub services: Vec<String>,
    /// `SPAN_KIND_SERVER`, …; empty: every kind.
    pub span_kinds: Vec<String>,
    pub group_by_operation: bool,
    pub end_ms: i64,
    pub lookback_ms: i64,
    pub step_ms: i64,
    pub rate_per_ms: i64,
}

/// Jaeger's `MetricFamily` (JSON as jaeger-query writes it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub help: String,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub labels: Vec<Label>,
    pub metric_points: Vec<MetricPoint>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Label {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricPoint {
    pub gauge_value: GaugeValue,
    /// RFC 3339, UTC.
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GaugeValue {
    pub double_value: f64,
}

#[derive(Default, Clone)]
struct Sum {
    calls: f64,
    errors: f64,
    buckets: Vec<f64>,
}

impl MonitorStore {
    /// Keeps snapshots every `step` for `window`, at most `max_series` series each.
    pub fn new(step: Duration, window: Duration, max_series: usize) -> Self {
        let step_ms = step.as_millis().max(1);
        let capacity = (window.as_millis() / step_ms).max(2) as usize + 1;
        Self {
            step,
            capacity,
            max_series,
            snapshots: Mutex::new(VecDeque::new()),
        }
    }

    /// The snapshot interval: the smallest step a query can resolve (`/api/metrics/minstep`).
    pub fn step(&self) -> Duration {
        self.step
    }

    /// Adds a snapshot of cumulative counters taken at `at_ms` (Unix ms); the oldest goes when
    /// the window is full.
    pub fn record(&self, at_ms: i64, bounds: &[f64], mut points: Vec<RedPoint>) {
        points.truncate(self.max_series);
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        if snapshots.len() >= self.capacity {
            snapshots.pop_front();
        }
        snapshots.push_back(Snapshot {
            at_ms,
            bounds: bounds.to_vec(),
            points,
        });
    }

    /// Answers one of the Monitor queries.
    pub fn query(&self, q: &MonitorQuery, measure: Measure) -> MetricFamily {
        let snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        let mut series: BTreeMap<(String, Option<String>), Vec<MetricPoint>> = BTreeMap::new();
        let step = q.step_ms.max(1);
        let start = q.end_ms - q.lookback_ms.max(0);
        let mut t = start;
        while t <= q.end_ms {
            if let Some((s0, s1)) = window(&snapshots, t, q.rate_per_ms) {
                let seconds = (s1.at_ms - s0.at_ms) as f64 / 1e3;
                let now = self.sums(s1, q);
                let before = self.sums(s0, q);
                for (key, n) in now {
                    let b = before.get(&key).cloned().unwrap_or_default();
                    let calls = n.calls - b.calls;
                    let value = match measure {
                        Measure::Calls => Some(calls / seconds),
                        Measure::Errors => (calls > 0.0).then(|| (n.errors - b.errors) / calls),
                        Measure::Latencies(quantile) => {
                            let delta: Vec<f64> = n
                                .buckets
                                .iter()
                                .enumerate()
                                .map(|(i, c)| c - b.buckets.get(i).copied().unwrap_or(0.0))
                                .collect();
                            histogram_quantile(quantile, &s1.bounds, &delta).map(|s| s * 1e3)
                        }
                    };
                    if let Some(v) = value.filter(|v| v.is_finite()) {
                        series.entry(key).or_default().push(MetricPoint {
                            gauge_value: GaugeValue { double_value: v },
                            timestamp: rfc3339(t),
                        });
                    }
                }
            }
            t += step;
        }
        let (name, help) = names(measure, q.group_by_operation);
        MetricFamily {
            name,
            kind: "GAUGE",
            help,
            metrics: series
                .into_iter()
                .map(|((service, operation), points)| {
                    let mut labels = vec![Label {
                        name: "service_name".into(),
                        value: service,
                    }];
                    if let Some(op) = operation {
                        labels.push(Label {
                            name: "operation".into(),
                            value: op,
                        });
                    }
                    Metric {
                        labels,
                        metric_points: points,
                    }
                })
                .collect(),
        }
    }

    fn sums(&self, s: &Snapshot, q: &MonitorQuery) -> BTreeMap<(String, Option<String>), Sum> {
        let mut out: BTreeMap<(String, Option<String>), Sum> = BTreeMap::new();
        for p in &s.points {
            if !q.services.contains(&p.service)
                || (q.tenant.is_some() && p.tenant != q.tenant)
                || (!q.span_kinds.is_empty() && !q.span_kinds.contains(&p.kind))
            {
                continue;
            }
            let key = (
                p.service.clone(),
                q.group_by_operation.then(|| p.operation.clone()),
            );
            let sum = out.entry(key).or_default();
            sum.calls += p.calls;
            sum.errors += p.errors;
            if sum.buckets.len() < p.buckets.len() {
                sum.buckets.resize(p.buckets.len(), 0.0);
            }
            for (i, c) in p.buckets.iter().enumerate() {
                sum.buckets[i] += c;
            }
        }
        out
    }
}

/// The snapshots at or before `t` and at or before `t − rate_per` (else the oldest one).
fn window(snapshots: &VecDeque<Snapshot>, t: i64, rate_per: i64) -> Option<(&Snapshot, &Snapshot)> {
    let s1 = snapshots.iter().rev().find(|s| s.at_ms <= t)?;
    let s0 = snapshots
        .iter()
        .rev()
        .find(|s| s.at_ms <= t - rate_per)
        .or_else(|| snapshots.front())?;
    (s0.at_ms < s1.at_ms).then_some((s0, s1))
}

/// Prometheus' `histogram_quantile` over per-bucket counts (the last bucket is +Inf).
pub fn histogram_quantile(q: f64, bounds: &[f64], counts: &[f64]) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let mut cumulative = 0.0;
    for (i, c) in counts.iter().enumerate() {
        let before = cumulative;
        cumulative += c;
        if cumulative >= rank && *c > 0.0 {
            let Some(upper) = bounds.get(i) else {
                // In the +Inf bucket: the highest finite bound, as Prometheus answers.
                return bounds.last().copied();
            };
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            return Some(lower + (upper - lower) * (rank - before) / c);
        }
    }
    bounds.last().copied()
}

fn names(measure: Measure, by_operation: bool) -> (String, String) {
    let (group, suffix) = if by_operation {
        ("service_operation", "grouped by service & operation")
    } else {
        ("service", "grouped by service")
    };
    match measure {
        Measure::Calls => (format!("{group}_call_rate"), format!("calls/sec, {suffix}")),
        Measure::Errors => (
            format!("{group}_error_rate"),
            format!("error rate, computed as a fraction of errors/sec over calls/sec, {suffix}"),
        ),
        Measure::Latencies(q) => (
            format!("{group}_latencies"),
            format!("{q}th quantile latency, {suffix}"),
        ),
    }
}

/// `2026-11-30T04:30:00Z` for Unix milliseconds.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(service: &str, op: &str, calls: f64, errors: f64, buckets: Vec<f64>) -> RedPoint {
        RedPoint {
            tenant: None,
            service: service.into(),
            operation: op.into(),
            kind: "SPAN_KIND_SERVER".into(),
            calls,
            errors,
            buckets,
        }
    }

    fn query(group: bool) -> MonitorQuery {
        MonitorQuery {
            tenant: None,
            services: vec!["shop".into()],
            span_kinds: vec!["SPAN_KIND_SERVER".into()],
            group_by_operation: group,
            end_ms: 60_000,
            lookback_ms: 30_000,
            step_ms: 30_000,
            rate_per_ms: 60_000,
        }
    }

    #[test]
    fn rates_errors_and_quantiles_from_snapshot_differences() {
        let store = MonitorStore::new(Duration::from_secs(30), Duration::from_secs(3600), 100);
        let bounds = [0.01, 0.1, 1.0];
        store.record(0, &bounds, vec![point("shop", "a", 0.0, 0.0, vec![0.0; 4])]);
        store.record(
            30_000,
            &bounds,
            vec![
                point("shop", "a", 60.0, 6.0, vec![54.0, 6.0, 0.0, 0.0]),
                point("shop", "b", 30.0, 0.0, vec![30.0, 0.0, 0.0, 0.0]),
                point("other", "a", 999.0, 0.0, vec![999.0, 0.0, 0.0, 0.0]),
            ],
        );
        store.record(
            60_000,
            &bounds,
            vec![
                point("shop", "a", 120.0, 12.0, vec![108.0, 12.0, 0.0, 0.0]),
                point("shop", "b", 60.0, 0.0, vec![60.0, 0.0, 0.0, 0.0]),
            ],
        );
        let calls = store.query(&query(false), Measure::Calls);
        assert_eq!(calls.name, "service_call_rate");
        assert_eq!(calls.metrics.len(), 1);
        let points = &calls.metrics[0].metric_points;
        // At 30 s: 90 calls in 30 s; at 60 s: 180 calls in 60 s.
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].gauge_value.double_value, 3.0);
        assert_eq!(points[0].timestamp, "1970-01-01T00:00:30Z");
        assert_eq!(points[1].gauge_value.double_value, 3.0);
        let errors = store.query(&query(true), Measure::Errors);
        assert_eq!(errors.name, "service_operation_error_rate");
        let a = &errors.metrics[0];
        assert_eq!(a.labels[1].value, "a");
        assert!((a.metric_points[1].gauge_value.double_value - 0.1).abs() < 1e-9);
        assert_eq!(
            errors.metrics[1].metric_points[1].gauge_value.double_value,
            0.0
        );
        let p95 = store.query(&query(true), Measure::Latencies(0.95));
        // a: 108 of 120 under 10 ms, rank 114 falls in (10 ms, 100 ms]: 10 + 90 × 6/12 = 55 ms.
        let v = p95.metrics[0].metric_points[1].gauge_value.double_value;
        assert!((v - 55.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn a_tenants_query_sees_only_its_series() {
        let store = MonitorStore::new(Duration::from_secs(30), Duration::from_secs(3600), 100);
        let of = |tenant: &str, calls: f64| RedPoint {
            tenant: Some(tenant.into()),
            ..point("shop", "a", calls, 0.0, vec![calls, 0.0])
        };
        store.record(0, &[1.0], vec![of("a", 0.0), of("b", 0.0)]);
        store.record(30_000, &[1.0], vec![of("a", 30.0), of("b", 3000.0)]);
        let rate = |tenant: Option<&str>| {
            let q = MonitorQuery {
                tenant: tenant.map(String::from),
                end_ms: 30_000,
                ..query(false)
            };
            store
                .query(&q, Measure::Calls)
                .metrics
                .iter()
                .flat_map(|m| m.metric_points.iter().map(|p| p.gauge_value.double_value))
                .collect::<Vec<_>>()
        };
        assert_eq!(rate(Some("a")), vec![1.0]);
        assert_eq!(rate(Some("b")), vec![100.0]);
        assert!(rate(Some("c")).is_empty());
        // Tenancy off: every series.
        assert_eq!(rate(None), vec![101.0]);
    }

    #[test]
    fn the_window_is_bounded() {
        let store = MonitorStore::new(Duration::from_secs(1), Duration::from_secs(10), 2);
        for i in 0..100 {
            store.record(
                i * 1000,
                &[1.0],
                vec![point("shop", "a", 0.0, 0.0, vec![0.0; 2]); 5],
            );
        }
        let snapshots = store.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(snapshots.len(), 11);
        assert!(snapshots.iter().all(|s| s.points.len() == 2));
    }

    #[test]
    fn quantile_and_dates() {
        assert_eq!(
            histogram_quantile(0.5, &[1.0, 2.0], &[0.0, 10.0, 0.0]),
            Some(1.5)
        );
        assert_eq!(
            histogram_quantile(0.99, &[1.0, 2.0], &[0.0, 0.0, 5.0]),
            Some(2.0)
        );
        assert_eq!(histogram_quantile(0.5, &[1.0], &[0.0, 0.0]), None);
        assert_eq!(rfc3339(1_796_013_000_000), "2026-11-30T04:30:00Z");
    }
}
