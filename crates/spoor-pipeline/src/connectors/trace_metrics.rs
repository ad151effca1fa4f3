//! Trace-level metrics with the names the seeds use: a trace is complete once no span of it
//! arrived for an idle period; then its duration (earliest start to latest end), whether any
//! span failed, and its root service and operation are counted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, attr, service_name};

use super::openmetrics::{Histogram, labels, number};
use super::sampling::sampling_weight;
use super::spanmetrics::trace_weights;

/// Settings of [`TraceMetrics`].
#[derive(Debug, Clone)]
pub struct TraceMetricsConfig {
    /// A trace with no new span for this long is complete.
    pub idle: Duration,
    /// Most traces waiting for completion; spans of further traces are not counted
    /// (`spoor_trace_metrics_dropped_spans_total`).
    pub max_pending: usize,
    /// Most (root service, root operation) series; others go to one series with
    /// `otel_metric_overflow="true"`.
    pub max_series: usize,
}

impl Default for TraceMetricsConfig {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(5),
            max_pending: 200_000,
            max_series: 2_000,
        }
    }
}

/// Trace duration buckets, seconds.
const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A trace's root (or first) service and operation, and its tenant (`spoor.tenant`, tenancy on).
type Root = (String, String, Option<String>);

pub(crate) struct TraceObservation {
    trace_id: Vec<u8>,
    service: String,
    operation: String,
    tenant: Option<String>,
    root: bool,
    sampler_type: Option<String>,
    start: u64,
    end: u64,
    error: bool,
    weight: Option<f64>,
}

struct Pending {
    root: Option<Root>,
    first: Root,
    start: u64,
    end: u64,
    error: bool,
    weight: Option<f64>,
    last_seen: Instant,
}

#[derive(Default)]
struct Done {
    traces: f64,
    errors: f64,
    histogram: Option<Histogram>,
}

#[derive(Default)]
struct State {
    pending: HashMap<Vec<u8>, Pending>,
    done: HashMap<Option<Root>, Done>,
    /// Root spans received per (service, sampler type, tenant): Jaeger's traces-received counter.
    received: HashMap<(String, String, Option<String>), f64>,
    dropped_spans: u64,
}

/// Completed-trace counters and the collector's trace counter.
pub struct TraceMetrics {
    config: TraceMetricsConfig,
    state: Mutex<State>,
}

impl TraceMetrics {
    pub fn new(config: TraceMetricsConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub fn idle(&self) -> Duration {
        self.config.idle
    }

    pub(crate) fn prepare(&self, batch: &[ResourceSpans]) -> Vec<TraceObservation> {
        let weights = trace_weights(batch);
        let mut out = Vec::new();
        for rs in batch {
            let service = service_name(rs.resource.as_ref());
            let resource = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let tenant = attr::find_str(resource, spoor_receivers::tenant::TENANT_ATTRIBUTE)
                .map(str::to_string);
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let root = span.parent_span_id.iter().all(|b| *b == 0);
                let error = span.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32)
                    || matches!(
                        attr::find(&span.attributes, "error").and_then(|v| v.value.as_ref()),
                        Some(Value::BoolValue(true))
                    );
                out.push(TraceObservation {
                    trace_id: span.trace_id.clone(),
                    service: service.to_string(),
                    operation: span.name.clone(),
                    tenant: tenant.clone(),
                    root,
                    sampler_type: root.then(|| {
                        attr::find_str(&span.attributes, "sampler.type")
                            .unwrap_or("unrecognized")
                            .to_string()
                    }),
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    error,
                    weight: sampling_weight(span, resource)
                        .or_else(|| weights.get(span.trace_id.as_slice()).copied()),
                });
            }
        }
        out
    }

    pub(crate) fn apply(&self, observations: Vec<TraceObservation>, now: Instant) {
        let mut state = self.state.lock();
        for o in observations {
            if let Some(sampler) = &o.sampler_type {
                *state
                    .received
                    .entry((o.service.clone(), sampler.clone(), o.tenant.clone()))
                    .or_default() += 1.0;
            }
            let full = state.pending.len() >= self.config.max_pending;
            match state.pending.get_mut(&o.trace_id) {
                Some(p) => {
                    p.start = p.start.min(o.start);
                    p.end = p.end.max(o.end);
                    p.error |= o.error;
                    p.weight = p.weight.or(o.weight);
                    p.last_seen = now;
                    if o.root {
                        p.root = Some((o.service, o.operation, o.tenant));
                    }
                }
                None if full => state.dropped_spans += 1,
                None => {
                    let pair = (o.service, o.operation, o.tenant);
                    state.pending.insert(
                        o.trace_id,
                        Pending {
                            root: o.root.then(|| pair.clone()),
                            first: pair,
                            start: o.start,
                            end: o.end,
                            error: o.error,
                            weight: o.weight,
                            last_seen: now,
                        },
                    );
                }
            }
        }
    }

    /// Completes the traces idle at `now`; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let idle = self.config.idle;
        let mut state = self.state.lock();
        let complete: Vec<Vec<u8>> = state
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_seen) >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &complete {
            let Some(p) = state.pending.remove(id) else {
                continue;
            };
            let pair = p.root.unwrap_or(p.first);
            let key = if state.done.len() >= self.config.max_series
                && !state.done.contains_key(&Some(pair.clone()))
            {
                None
            } else {
                Some(pair)
            };
            let weight = p.weight.unwrap_or(1.0);
            let d = state.done.entry(key).or_default();
            d.traces += weight;
            if p.error {
                d.errors += weight;
            }
            let seconds = p.end.saturating_sub(p.start) as f64 / 1e9;
            d.histogram
                .get_or_insert_with(|| Histogram::new(BOUNDS.len()))
                .observe(&BOUNDS, seconds, weight);
        }
        complete.len()
    }

    /// Traces waiting for their idle period.
    pub fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// OpenMetrics text: the trace families, and the Jaeger collector names (aliases of the
    /// receiver counters found in `registry`, the registry's own text).
    pub fn render(&self, registry: &str, out: &mut String) {
        let state = self.state.lock();
        let mut keys: Vec<_> = state.done.keys().collect();
        keys.sort();
        let pairs = |k: &Option<Root>| match k {
            Some((s, o, t)) => {
                let mut l = vec![
                    ("service_name".to_string(), s.clone()),
                    ("operation".to_string(), o.clone()),
                ];
                l.extend(t.iter().map(|t| ("tenant".to_string(), t.clone())));
                l
            }
            None => vec![("otel_metric_overflow".to_string(), "true".to_string())],
        };
        let _ = writeln!(out, "# TYPE jaeger_traces counter");
        let _ = writeln!(
            out,
            "# HELP jaeger_traces Completed traces (no new span for the idle period) by root service and operation, weighted by 1/sampling probability."
        );
        for k in &keys {
            let _ = writeln!(
                out,
                "jaeger_traces_total{} {}",
                labels(&pairs(k), None),
                number(state.done[*k].traces)
            );
        }
        let _ = writeln!(out, "# TYPE jaeger_trace_errors counter");
        let _ = writeln!(
            out,
            "# HELP jaeger_trace_errors Completed traces with at least one error span."
        );
        for k in &keys {
            let _ = writeln!(
                out,
                "jaeger_trace_errors_total{} {}",
                labels(&pairs(k), None),
                number(state.done[*k].errors)
            );
        }
        let _ = writeln!(out, "# TYPE jaeger_trace_duration_seconds histogram");
        let _ = writeln!(
            out,
            "# HELP jaeger_trace_duration_seconds Completed trace duration, earliest span start to latest span end."
        );
        for k in &keys {
            if let Some(h) = &state.done[*k].histogram {
                h.write(out, "jaeger_trace_duration_seconds", &BOUNDS, &pairs(k));
            }
        }
        let _ = writeln!(out, "# TYPE jaeger_collector_traces_received counter");
        let _ = writeln!(
            out,
            "# HELP jaeger_collector_traces_received Root spans received, by service and sampler type (Jaeger's name)."
        );
        let mut received: Vec<_> = state.received.iter().collect();
        received.sort_by(|a, b| a.0.cmp(b.0));
        for ((svc, sampler, tenant), n) in received {
            let mut l = vec![
                ("sampler_type".to_string(), sampler.clone()),
                ("svc".to_string(), svc.clone()),
            ];
            l.extend(tenant.iter().map(|t| ("tenant".to_string(), t.clone())));
            let _ = writeln!(
                out,
                "jaeger_collector_traces_received_total{} {}",
                labels(&l, None),
                number(*n)
            );
        }
        let _ = writeln!(out, "# TYPE jaeger_collector_spans_received counter");
        let _ = writeln!(
            out,
            "# HELP jaeger_collector_spans_received Spans received (spoor_receiver_spans_received_total under Jaeger's name)."
        );
        for line in registry.lines() {
            if let Some(rest) = line.strip_prefix("spoor_receiver_spans_received_total") {
                let _ = writeln!(out, "jaeger_collector_spans_received_total{rest}");
            }
        }
        let _ = writeln!(out, "# TYPE spoor_trace_metrics_dropped_spans counter");
        let _ = writeln!(
            out,
            "# HELP spoor_trace_metrics_dropped_spans Spans not counted in trace metrics because too many traces were pending."
        );
        let _ = writeln!(
            out,
            "spoor_trace_metrics_dropped_spans_total {}",
            state.dropped_spans
        );
        let _ = writeln!(out, "# TYPE spoor_trace_metrics_pending gauge");
        let _ = writeln!(
            out,
            "# HELP spoor_trace_metrics_pending Traces waiting for their idle period."
        );
        let _ = writeln!(out, "spoor_trace_metrics_pending {}", state.pending.len());
    }
}
