//! `connectors.spanmetrics`: RED metrics from spans, with the Collector's options and names.

use std::collections::HashMap;
use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint,
    Histogram as OtlpHistogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, attr, service_name};

use super::exponential::ExpHistogram;
use super::openmetrics::{Histogram, label_name, labels, number};
use super::sampling::sampling_weight;
use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// The Collector's default explicit buckets.
const DEFAULT_BUCKETS_MS: [u64; 16] = [
    2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000,
];

/// `connectors.spanmetrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Prefix of the metric names (`traces.span.metrics` → `traces_span_metrics_calls_total`).
    pub namespace: String,
    /// Extra labels from span (then resource) attributes.
    pub dimensions: Vec<Dimension>,
    pub histogram: HistogramConfig,
    /// How often the metrics are emitted into the metrics pipelines.
    pub metrics_flush_interval: Duration,
    pub exemplars: ExemplarsConfig,
    /// Most series kept (0: no limit); spans of further label sets count in one series
    /// labelled `otel.metric.overflow="true"`.
    pub aggregation_cardinality_limit: usize,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            namespace: "traces.span.metrics".into(),
            dimensions: Vec::new(),
            histogram: HistogramConfig::default(),
            metrics_flush_interval: Duration::from_secs(60),
            exemplars: ExemplarsConfig::default(),
            aggregation_cardinality_limit: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    pub disable: bool,
    /// `s` (Spoor's default, `_duration_seconds`) or `ms` (the Collector's default).
    pub unit: String,
    pub explicit: Option<ExplicitBuckets>,
    /// Base-2 exponential buckets instead of explicit ones (OTLP exponential histograms).
    pub exponential: Option<ExponentialBuckets>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialBuckets {
    /// Most buckets; the scale drops (coarser buckets) to keep within it.
    pub max_size: usize,
}

impl Default for ExponentialBuckets {
    fn default() -> Self {
        Self { max_size: 160 }
    }
}

impl Default for HistogramConfig {
    fn default() -> Self {
        Self {
            disable: false,
            unit: "s".into(),
            explicit: None,
            exponential: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitBuckets {
    pub buckets: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    pub enabled: bool,
}

impl ComponentConfig for SpanMetricsConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(e) = &self.histogram.exponential {
            if e.max_size < 2 {
                errors.push(ConfigError::new(
                    "histogram.exponential.max_size",
                    format!("max_size {} is less than 2", e.max_size),
                ));
            }
            if self.histogram.explicit.is_some() {
                errors.push(ConfigError::new(
                    "histogram",
                    "explicit and exponential are exclusive: set one",
                ));
            }
        }
        if !matches!(self.histogram.unit.as_str(), "s" | "ms") {
            errors.push(ConfigError::new(
                "histogram.unit",
                format!("unit {:?} is not s or ms", self.histogram.unit),
            ));
        }
        if let Some(e) = &self.histogram.explicit
            && (e.buckets.is_empty() || e.buckets.windows(2).any(|w| w[0] >= w[1]))
        {
            errors.push(ConfigError::new(
                "histogram.explicit.buckets",
                "buckets must be non-empty and increasing",
            ));
        }
        if self.metrics_flush_interval.get().is_zero() {
            errors.push(ConfigError::new(
                "metrics_flush_interval",
                "must be greater than 0",
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::SpanMetrics(Box::new(self))
    }
}

impl SpanMetricsConfig {
    /// Bucket bounds in the histogram's unit.
    fn bounds(&self) -> Vec<f64> {
        let scale = if self.histogram.unit == "ms" {
            1e3
        } else {
            1.0
        };
        match &self.histogram.explicit {
            Some(e) => e
                .buckets
                .iter()
                .map(|d| d.get().as_secs_f64() * scale)
                .collect(),
            None => DEFAULT_BUCKETS_MS
                .iter()
                .map(|ms| *ms as f64 / 1e3 * scale)
                .collect(),
        }
    }
}

/// One span's contribution, computed before the batch is handed on and applied once it was
/// accepted (a refused batch is retried by the client and must not count twice).
pub(crate) struct Observation {
    key: Vec<Option<String>>,
    duration: f64,
    weight: f64,
    exemplar: Option<(Vec<u8>, Vec<u8>, u64)>,
}

#[derive(Debug, Clone)]
struct Series {
    calls: f64,
    histogram: Histogram,
    /// With `histogram.exponential`, in place of `histogram`.
    exponential: Option<ExpHistogram>,
    exemplar: Option<(Vec<u8>, Vec<u8>, u64, f64)>,
}

/// The aggregator: cumulative series since start, bounded by the cardinality limit.
pub struct SpanMetrics {
    config: SpanMetricsConfig,
    bounds: Vec<f64>,
    prefix: String,
    start_unix_nano: u64,
    series: Mutex<HashMap<Vec<Option<String>>, Series>>,
}

/// Label keys, in the order of a series key: the four fixed ones, then the dimensions, then
/// [`TENANT`].
const FIXED: [&str; 4] = ["service.name", "span.name", "span.kind", "status.code"];
/// The label naming a series' tenant: the `spoor.tenant` resource attribute the receivers stamp
/// with tenancy on (absent, and no label, with tenancy off).
const TENANT: &str = "tenant";
const OVERFLOW: &str = "otel.metric.overflow";

pub(crate) fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

pub(crate) fn status_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "STATUS_CODE_OK",
        Ok(StatusCode::Error) => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl SpanMetrics {
    pub fn new(config: SpanMetricsConfig) -> Self {
        let bounds = config.bounds();
        let prefix = label_name(&config.namespace);
        Self {
            config,
            bounds,
            prefix,
            start_unix_nano: now_unix_nano(),
            series: Mutex::new(HashMap::new()),
        }
    }

    /// The observations of a batch (see [`Observation`]).
    pub(crate) fn prepare(&self, batch: &[ResourceSpans]) -> Vec<Observation> {
        let scale = if self.config.histogram.unit == "ms" {
            1e3
        } else {
            1.0
        };
        let weights = trace_weights(batch);
        let mut out = Vec::new();
        for rs in batch {
            let service = service_name(rs.resource.as_ref());
            let resource_attrs = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]);
            let tenant = attr::find(resource_attrs, spoor_receivers::tenant::TENANT_ATTRIBUTE)
                .map(|v| attr::value_to_string(Some(v)));
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                let status = span.status.as_ref().map(|s| s.code).unwrap_or(0);
                let mut key = vec![
                    Some(service.to_string()),
                    Some(span.name.clone()),
                    Some(kind_name(span.kind).to_string()),
                    Some(status_name(status).to_string()),
                ];
                for d in &self.config.dimensions {
                    let v = attr::find(&span.attributes, &d.name)
                        .or_else(|| attr::find(resource_attrs, &d.name))
                        .map(|v| attr::value_to_string(Some(v)))
                        .or_else(|| d.default.clone());
                    key.push(v);
                }
                key.push(tenant.clone());
                let weight = sampling_weight(span, resource_attrs)
                    .or_else(|| weights.get(span.trace_id.as_slice()).copied())
                    .unwrap_or(1.0);
                let nanos = span
                    .end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano);
                out.push(Observation {
                    key,
                    duration: nanos as f64 / 1e9 * scale,
                    weight,
                    exemplar: self.config.exemplars.enabled.then(|| {
                        (
                            span.trace_id.clone(),
                            span.span_id.clone(),
                            span.end_time_unix_nano,
                        )
                    }),
                });
            }
        }
        out
    }

    /// Adds observations to the series.
    pub(crate) fn apply(&self, observations: Vec<Observation>) {
        let limit = self.config.aggregation_cardinality_limit;
        let overflow = overflow_key();
        let mut series = self.series.lock();
        for o in observations {
            let named = series.len() - usize::from(series.contains_key(&overflow));
            let key = if limit > 0 && named >= limit && !series.contains_key(&o.key) {
                overflow_key()
            } else {
                o.key
            };
            let s = series.entry(key).or_insert_with(|| Series {
                calls: 0.0,
                histogram: Histogram::new(self.bounds.len()),
                exponential: self
                    .config
                    .histogram
                    .exponential
                    .as_ref()
                    .map(|e| ExpHistogram::new(e.max_size)),
                exemplar: None,
            });
            s.calls += o.weight;
            if !self.config.histogram.disable {
                match &mut s.exponential {
                    Some(e) => e.observe(o.duration, o.weight),
                    None => s.histogram.observe(&self.bounds, o.duration, o.weight),
                }
            }
            if let Some((t, sp, time)) = o.exemplar {
                s.exemplar = Some((t, sp, time, o.duration));
            }
        }
    }

    /// The series summed over status code, for the Monitor API's snapshots: per service, span
    /// name and kind, calls, errors and the duration buckets (bounds in seconds).
    pub fn red_points(&self) -> (Vec<f64>, Vec<spoor_query::monitor::RedPoint>) {
        let scale = if self.config.histogram.unit == "ms" {
            1e-3
        } else {
            1.0
        };
        let bounds = self.bounds.iter().map(|b| b * scale).collect();
        let series = self.series.lock();
        let tenant_at = FIXED.len() + self.config.dimensions.len();
        type Key<'a> = (Option<&'a str>, &'a str, &'a str, &'a str);
        let mut points: HashMap<Key, spoor_query::monitor::RedPoint> = HashMap::new();
        for (k, s) in series.iter() {
            let [Some(service), Some(name), Some(kind), Some(status), ..] = k.as_slice() else {
                continue;
            };
            let tenant = k.get(tenant_at).and_then(|t| t.as_deref());
            let p = points
                .entry((tenant, service.as_str(), name.as_str(), kind.as_str()))
                .or_insert_with(|| spoor_query::monitor::RedPoint {
                    tenant: tenant.map(String::from),
                    service: service.clone(),
                    operation: name.clone(),
                    kind: kind.clone(),
                    calls: 0.0,
                    errors: 0.0,
                    buckets: vec![0.0; self.bounds.len() + 1],
                });
            p.calls += s.calls;
            if status == "STATUS_CODE_ERROR" {
                p.errors += s.calls;
            }
            for (b, c) in p.buckets.iter_mut().zip(&s.histogram.counts) {
                *b += c;
            }
        }
        (bounds, points.into_values().collect())
    }

    /// Number of series held (the overflow series included).
    pub fn series_count(&self) -> usize {
        self.series.lock().len()
    }

    fn label_pairs(&self, key: &[Option<String>]) -> Vec<(String, String)> {
        if key.first().is_some_and(|k| k.is_none()) {
            return vec![(label_name(OVERFLOW), "true".into())];
        }
        FIXED
            .iter()
            .copied()
            .chain(self.config.dimensions.iter().map(|d| d.name.as_str()))
            .chain([TENANT])
            .zip(key)
            .filter_map(|(k, v)| v.as_ref().map(|v| (label_name(k), v.clone())))
            .collect()
    }

    fn histogram_name(&self) -> String {
        let unit = if self.config.histogram.unit == "ms" {
            "milliseconds"
        } else {
            "seconds"
        };
        format!("{}_duration_{unit}", self.prefix)
    }

    /// The series as OpenMetrics text (`<ns>_calls_total`, `<ns>_duration_seconds`).
    pub fn render(&self, out: &mut String) {
        let series = self.series.lock();
        let mut keys: Vec<_> = series.keys().collect();
        keys.sort();
        let calls = format!("{}_calls", self.prefix);
        let _ = writeln!(out, "# TYPE {calls} counter");
        let _ = writeln!(
            out,
            "# HELP {calls} Spans counted by service, span name, kind and status, weighted by 1/sampling probability."
        );
        for k in &keys {
            let l = self.label_pairs(k);
            let _ = writeln!(
                out,
                "{calls}_total{} {}",
                labels(&l, None),
                number(series[*k].calls)
            );
        }
        if self.config.histogram.disable {
            return;
        }
        let hist = self.histogram_name();
        let _ = writeln!(out, "# TYPE {hist} histogram");
        let _ = writeln!(
            out,
            "# HELP {hist} Span durations, weighted by 1/sampling probability."
        );
        for k in &keys {
            series[*k]
                .histogram
                .write(out, &hist, &self.bounds, &self.label_pairs(k));
        }
    }

    /// The series as OTLP metrics (cumulative), one resource per service.
    pub fn to_otlp(&self) -> Vec<ResourceMetrics> {
        let now = now_unix_nano();
        let series = self.series.lock();
        type Points = (
            Vec<NumberDataPoint>,
            Vec<HistogramDataPoint>,
            Vec<ExponentialHistogramDataPoint>,
        );
        let mut by_service: HashMap<String, Points> = HashMap::new();
        for (k, s) in series.iter() {
            let attributes: Vec<KeyValue> = if k.first().is_some_and(|k| k.is_none()) {
                vec![attr::string(OVERFLOW, "true")]
            } else {
                FIXED
                    .iter()
                    .copied()
                    .chain(self.config.dimensions.iter().map(|d| d.name.as_str()))
                    .chain([TENANT])
                    .zip(k)
                    .filter_map(|(k, v)| v.as_ref().map(|v| attr::string(k, v.clone())))
                    .collect()
            };
            let service = k.first().cloned().flatten().unwrap_or_default();
            let entry = by_service.entry(service).or_default();
            entry.0.push(NumberDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: self.start_unix_nano,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble(s.calls)),
                ..Default::default()
            });
            if !self.config.histogram.disable {
                let exemplars = s
                    .exemplar
                    .iter()
                    .map(|(t, sp, time, v)| Exemplar {
                        trace_id: t.clone(),
                        span_id: sp.clone(),
                        time_unix_nano: *time,
                        value: Some(exemplar::Value::AsDouble(*v)),
                        ..Default::default()
                    })
                    .collect();
                if let Some(e) = &s.exponential {
                    entry.2.push(ExponentialHistogramDataPoint {
                        attributes,
                        start_time_unix_nano: self.start_unix_nano,
                        time_unix_nano: now,
                        exemplars,
                        ..e.to_point()
                    });
                    continue;
                }
                entry.1.push(HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: self.start_unix_nano,
                    time_unix_nano: now,
                    count: s.histogram.count.round() as u64,
                    sum: Some(s.histogram.sum),
                    bucket_counts: s
                        .histogram
                        .counts
                        .iter()
                        .map(|c| c.round() as u64)
                        .collect(),
                    explicit_bounds: self.bounds.clone(),
                    exemplars,
                    ..Default::default()
                });
            }
        }
        let ns = &self.config.namespace;
        let cumulative = AggregationTemporality::Cumulative as i32;
        let mut services: Vec<_> = by_service.into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        services
            .into_iter()
            .map(|(service, (calls, hists, exps))| {
                let mut metrics = vec![Metric {
                    name: format!("{ns}.calls"),
                    unit: "{call}".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: calls,
                        aggregation_temporality: cumulative,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }];
                if !exps.is_empty() {
                    metrics.push(Metric {
                        name: format!("{ns}.duration"),
                        unit: self.config.histogram.unit.clone(),
                        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: exps,
                            aggregation_temporality: cumulative,
                        })),
                        ..Default::default()
                    });
                }
                if !hists.is_empty() {
                    metrics.push(Metric {
                        name: format!("{ns}.duration"),
                        unit: self.config.histogram.unit.clone(),
                        data: Some(metric::Data::Histogram(OtlpHistogram {
                            data_points: hists,
                            aggregation_temporality: cumulative,
                        })),
                        ..Default::default()
                    });
                }
                ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![KeyValue {
                            key: "service.name".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(service)),
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect()
    }
}

fn overflow_key() -> Vec<Option<String>> {
    vec![None]
}

/// The weight recorded on any span of each trace in the batch, for spans that carry none
/// (Jaeger clients tag only the root span with `sampler.*`).
pub(crate) fn trace_weights(batch: &[ResourceSpans]) -> HashMap<&[u8], f64> {
    let mut weights = HashMap::new();
    for rs in batch {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            if let Some(w) = sampling_weight(span, resource) {
                weights.insert(span.trace_id.as_slice(), w);
            }
        }
    }
    weights
}
