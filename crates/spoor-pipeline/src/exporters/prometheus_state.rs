//! The prometheus exporter's accumulator: OTLP data points folded into Prometheus series, as the
//! Collector's `prometheusexporter` does, and rendered in the text format on each scrape.
//!
//! - Sums: monotonic → counter (`_total`); cumulative points replace the value, delta points are
//!   added to it; non-monotonic delta sums are dropped (a gauge cannot be rebuilt from them), as
//!   the Collector does. Non-monotonic cumulative sums are gauges.
//! - Gauges: the newest value.
//! - Histograms: classic buckets (`_bucket{le}`, `_sum`, `_count`); delta points are added when
//!   their bounds match, else replace.
//! - Exponential histograms: native histograms, as the Collector's exporter does since it
//!   exposes them (`NewConstNativeHistogram`): the scale is the schema (above 8 the buckets are
//!   merged down to schema 8; below -4 the point is dropped), OTLP bucket `i` is Prometheus bucket
//!   `i + 1`, a zero `zero_threshold` becomes 1e-128; delta points are added (at the smaller
//!   schema). Only the protobuf format carries the buckets (`prometheus_proto.rs`, negotiated by
//!   `Accept`); the text formats show `_bucket{le="+Inf"}`, `_sum` and `_count`.
//! - Summaries: `{quantile}`, `_sum`, `_count`.
//! - Every series carries `job` (`service.namespace/service.name`) and `instance`
//!   (`service.instance.id`), `otel_scope_name`/`otel_scope_version`, the `const_labels`, and,
//!   with `resource_to_telemetry_conversion`, every resource attribute; the other resource
//!   attributes go to one `target_info` series per resource.
//! - A series not updated for `metric_expiration` disappears; a point flagged "no recorded
//!   value" removes its series at once.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use spoor_model::attr::value_to_string;

use super::prometheus_names::{
    NameKind, escape_help, escape_value, float, label_name, metric_name,
};

/// What shapes names and labels (from the exporter's config).
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub namespace: String,
    pub const_labels: Vec<(String, String)>,
    pub send_timestamps: bool,
    pub expiration: Duration,
    pub resource_to_telemetry: bool,
    pub add_suffixes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
            Type::Summary => "summary",
        }
    }
}

pub(crate) type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Number(f64),
    /// Upper bounds (ascending, without +Inf) and per-bucket counts (one more than bounds).
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
    Native(Native),
}

/// A native histogram: sparse buckets by Prometheus index (bucket `i` holds
/// `(base^(i-1), base^i]`, base `2^(2^-schema)`; negative buckets mirror it).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Native {
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub positive: BTreeMap<i32, u64>,
    pub negative: BTreeMap<i32, u64>,
    pub sum: f64,
    pub count: u64,
}

/// Prometheus' schemas: 8 is the finest, -4 the coarsest.
const MAX_SCHEMA: i32 = 8;
const MIN_SCHEMA: i32 = -4;
/// The zero threshold when a point has none (the Collector's default).
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

impl Native {
    /// The point as a native histogram; `None` when its scale is below -4.
    pub(crate) fn from_point(p: &ExponentialHistogramDataPoint) -> Option<Native> {
        if p.scale < MIN_SCHEMA {
            return None;
        }
        let down = (p.scale - MAX_SCHEMA).max(0);
        let buckets = |b: &Option<Buckets>| {
            let mut out = BTreeMap::new();
            if let Some(b) = b {
                for (k, c) in b.bucket_counts.iter().enumerate() {
                    let index = i64::from(b.offset) + k as i64;
                    let index = i32::try_from((index >> down) + 1).unwrap_or(i32::MAX);
                    *out.entry(index).or_insert(0u64) += *c;
                }
            }
            out
        };
        Some(Native {
            schema: p.scale.min(MAX_SCHEMA),
            zero_threshold: if p.zero_threshold > 0.0 {
                p.zero_threshold
            } else {
                DEFAULT_ZERO_THRESHOLD
            },
            zero_count: p.zero_count,
            positive: buckets(&p.positive),
            negative: buckets(&p.negative),
            sum: p.sum.unwrap_or(0.0),
            count: p.count,
        })
    }

    /// The same histogram at the coarser `schema`.
    fn downscaled(mut self, schema: i32) -> Native {
        let down = (self.schema - schema).max(0);
        if down == 0 {
            return self;
        }
        let merge = |m: BTreeMap<i32, u64>| {
            let mut out = BTreeMap::new();
            for (i, c) in m {
                *out.entry(((i - 1) >> down) + 1).or_insert(0u64) += c;
            }
            out
        };
        self.positive = merge(std::mem::take(&mut self.positive));
        self.negative = merge(std::mem::take(&mut self.negative));
        self.schema = schema;
        self
    }

    /// `self` + `other` (a delta point), at the smaller of their schemas.
    fn add(&self, other: Native) -> Native {
        let schema = self.schema.min(other.schema);
        let mut sum = self.clone().downscaled(schema);
        let other = other.downscaled(schema);
        for (i, c) in other.positive {
            *sum.positive.entry(i).or_insert(0) += c;
        }
        for (i, c) in other.negative {
            *sum.negative.entry(i).or_insert(0) += c;
        }
        sum.zero_count = sum.zero_count.saturating_add(other.zero_count);
        sum.zero_threshold = sum.zero_threshold.max(other.zero_threshold);
        sum.sum += other.sum;
        sum.count = sum.count.saturating_add(other.count);
        sum
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub value: Value,
    /// Point time, in Unix milliseconds.
    pub timestamp_ms: i64,
    updated: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Family {
    pub ty: Option<Type>,
    pub help: String,
    pub series: BTreeMap<Labels, Series>,
}

/// All series, by family name.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    families: BTreeMap<String, Family>,
    /// Points dropped: unsupported (non-monotonic delta), type clashes, out of order.
    pub dropped: u64,
}

struct Ctx<'a> {
    options: &'a Options,
    base: Labels,
    now: Instant,
}

impl Accumulator {
    /// Folds a batch in.
    pub(crate) fn add(&mut self, batch: &[ResourceMetrics], options: &Options, now: Instant) {
        for rm in batch {
            let resource = rm.resource.as_ref();
            let job_instance = job_instance(resource);
            self.target_info(resource, &job_instance, options, now);
            for sm in &rm.scope_metrics {
                let mut base = job_instance.clone();
                if options.resource_to_telemetry
                    && let Some(r) = resource
                {
                    base.extend(attribute_labels(&r.attributes));
                }
                base.extend(scope_labels(sm.scope.as_ref()));
                base.extend(options.const_labels.iter().cloned());
                let ctx = Ctx { options, base, now };
                for m in &sm.metrics {
                    self.metric(m, &ctx);
                }
            }
        }
    }

    fn metric(&mut self, m: &Metric, ctx: &Ctx<'_>) {
        let o = ctx.options;
        let name = |kind| metric_name(&m.name, &m.unit, kind, &o.namespace, o.add_suffixes);
        match &m.data {
            Some(Data::Gauge(g)) => {
                let family = name(NameKind::Gauge);
                for p in &g.data_points {
                    self.number(&family, Type::Gauge, m, p, false, ctx);
                }
            }
            Some(Data::Sum(s)) => {
                let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                if !s.is_monotonic && delta {
                    self.dropped += s.data_points.len() as u64;
                    return;
                }
                let (kind, ty) = if s.is_monotonic {
                    (NameKind::Counter, Type::Counter)
                } else {
                    (NameKind::Other, Type::Gauge)
                };
                let family = name(kind);
                for p in &s.data_points {
                    self.number(&family, ty, m, p, delta, ctx);
                }
            }
            Some(Data::Histogram(h)) => {
                let family = name(NameKind::Other);
                let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &h.data_points {
                    let (bounds, counts) = classic(p);
                    self.histogram(
                        &family,
                        m,
                        &p.attributes,
                        p.flags,
                        p.time_unix_nano,
                        ctx,
                        {
                            Value::Histogram {
                                bounds,
                                counts,
                                sum: p.sum.unwrap_or(0.0),
                                count: p.count,
                            }
                        },
                        delta,
                    );
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                let family = name(NameKind::Other);
                let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                for p in &h.data_points {
                    let Some(native) = Native::from_point(p) else {
                        self.dropped += 1;
                        continue;
                    };
                    let value = Value::Native(native);
                    self.histogram(
                        &family,
                        m,
                        &p.attributes,
                        p.flags,
                        p.time_unix_nano,
                        ctx,
                        value,
                        delta,
                    );
                }
            }
            Some(Data::Summary(s)) => {
                let family = name(NameKind::Other);
                for p in &s.data_points {
                    let value = Value::Summary {
                        quantiles: p
                            .quantile_values
                            .iter()
                            .map(|q| (q.quantile, q.value))
                            .collect(),
                        sum: p.sum,
                        count: p.count,
                    };
                    self.put(
                        &family,
                        Type::Summary,
                        m,
                        &p.attributes,
                        p.flags,
                        p.time_unix_nano,
                        ctx,
                        |_| Some(value),
                    );
                }
            }
            None => {}
        }
    }

    fn number(
        &mut self,
        family: &str,
        ty: Type,
        m: &Metric,
        p: &NumberDataPoint,
        delta: bool,
        ctx: &Ctx<'_>,
    ) {
        let v = match p.value {
            Some(NumberValue::AsDouble(d)) => d,
            Some(NumberValue::AsInt(i)) => i as f64,
            None => return,
        };
        self.put(
            family,
            ty,
            m,
            &p.attributes,
            p.flags,
            p.time_unix_nano,
            ctx,
            |old| match (delta, old) {
                (true, Some(Value::Number(prev))) => Some(Value::Number(prev + v)),
                _ => Some(Value::Number(v)),
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn histogram(
        &mut self,
        family: &str,
        m: &Metric,
        attributes: &[KeyValue],
        flags: u32,
        time: u64,
        ctx: &Ctx<'_>,
        value: Value,
        delta: bool,
    ) {
        self.put(
            family,
            Type::Histogram,
            m,
            attributes,
            flags,
            time,
            ctx,
            |old| match (delta, old, value) {
                (
                    true,
                    Some(Value::Histogram {
                        bounds: old_bounds,
                        counts: old_counts,
                        sum: old_sum,
                        count: old_count,
                    }),
                    Value::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    },
                ) if *old_bounds == bounds => Some(Value::Histogram {
                    counts: old_counts
                        .iter()
                        .zip(&counts)
                        .map(|(a, b)| a.saturating_add(*b))
                        .collect(),
                    bounds,
                    sum: old_sum + sum,
                    count: old_count.saturating_add(count),
                }),
                (true, Some(Value::Native(old)), Value::Native(new)) => {
                    Some(Value::Native(old.add(new)))
                }
                (_, _, value) => Some(value),
            },
        );
    }

    /// Stores a point of `family`: `merge` gets the series' current value (for delta
    /// accumulation) and returns the new one.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        family: &str,
        ty: Type,
        m: &Metric,
        attributes: &[KeyValue],
        flags: u32,
        time_unix_nano: u64,
        ctx: &Ctx<'_>,
        merge: impl FnOnce(Option<&Value>) -> Option<Value>,
    ) {
        let f = self.families.entry(family.to_string()).or_default();
        match f.ty {
            Some(existing) if existing != ty => {
                self.dropped += 1;
                return;
            }
            _ => f.ty = Some(ty),
        }
        if f.help.is_empty() {
            f.help = m.description.clone();
        }
        let mut labels = ctx.base.clone();
        labels.extend(attribute_labels(attributes));
        let labels = normalise(labels);
        // DataPointFlags.NO_RECORDED_VALUE: the series is stale.
        if flags & 1 == 1 {
            f.series.remove(&labels);
            return;
        }
        let timestamp_ms = (time_unix_nano / 1_000_000) as i64;
        let old = f.series.get(&labels);
        if let Some(old) = old
            && timestamp_ms < old.timestamp_ms
        {
            self.dropped += 1;
            return;
        }
        if let Some(value) = merge(old.map(|s| &s.value)) {
            f.series.insert(
                labels,
                Series {
                    value,
                    timestamp_ms,
                    updated: ctx.now,
                },
            );
        }
    }

    fn target_info(
        &mut self,
        resource: Option<&Resource>,
        job_instance: &Labels,
        options: &Options,
        now: Instant,
    ) {
        let Some(r) = resource else { return };
        let others: Vec<&KeyValue> = r
            .attributes
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .collect();
        if others.is_empty() {
            return;
        }
        let mut labels = job_instance.clone();
        labels.extend(
            others
                .iter()
                .map(|kv| (label_name(&kv.key), value_to_string(kv.value.as_ref()))),
        );
        labels.extend(options.const_labels.iter().cloned());
        let f = self.families.entry("target_info".to_string()).or_default();
        f.ty = Some(Type::Gauge);
        f.help = "Target metadata".to_string();
        f.series.insert(
            normalise(labels),
            Series {
                value: Value::Number(1.0),
                timestamp_ms: 0,
                updated: now,
            },
        );
    }

    /// Removes series idle for longer than `expiration`, and families left empty.
    pub(crate) fn expire(&mut self, expiration: Duration, now: Instant) {
        for f in self.families.values_mut() {
            f.series
                .retain(|_, s| now.saturating_duration_since(s.updated) <= expiration);
        }
        self.families.retain(|_, f| !f.series.is_empty());
    }

    /// The text exposition format (0.0.4), or OpenMetrics 1.0 when `open_metrics`.
    pub(crate) fn render(&self, send_timestamps: bool, open_metrics: bool) -> String {
        let mut out = String::new();
        for (name, f) in &self.families {
            let Some(ty) = f.ty.filter(|_| !f.series.is_empty()) else {
                continue;
            };
            let (family_name, type_name) = match (open_metrics, ty) {
                (true, Type::Counter) => match name.strip_suffix("_total") {
                    Some(base) => (base, "counter"),
                    None => (name.as_str(), "unknown"),
                },
                (true, Type::Gauge) if name == "target_info" => ("target", "info"),
                _ => (name.as_str(), ty.as_str()),
            };
            if !f.help.is_empty() {
                let _ = writeln!(out, "# HELP {family_name} {}", escape_help(&f.help));
            }
            let _ = writeln!(out, "# TYPE {family_name} {type_name}");
            for (labels, s) in &f.series {
                let ts = (send_timestamps && s.timestamp_ms > 0).then(|| {
                    if open_metrics {
                        format!(" {}", s.timestamp_ms as f64 / 1000.0)
                    } else {
                        format!(" {}", s.timestamp_ms)
                    }
                });
                let ts = ts.as_deref().unwrap_or("");
                match &s.value {
                    Value::Number(v) => sample(&mut out, name, labels, None, *v, ts),
                    Value::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    } => {
                        let bucket = format!("{name}_bucket");
                        let mut cumulative = 0u64;
                        for (i, b) in bounds.iter().enumerate() {
                            cumulative =
                                cumulative.saturating_add(counts.get(i).copied().unwrap_or(0));
                            let le = ("le", float(*b));
                            sample(&mut out, &bucket, labels, Some(le), cumulative as f64, ts);
                        }
                        let inf = ("le", "+Inf".to_string());
                        sample(&mut out, &bucket, labels, Some(inf), *count as f64, ts);
                        sample(&mut out, &format!("{name}_sum"), labels, None, *sum, ts);
                        let c = format!("{name}_count");
                        sample(&mut out, &c, labels, None, *count as f64, ts);
                    }
                    Value::Native(n) => {
                        // The text formats have no native buckets: what client_golang writes
                        // for a histogram without classic buckets.
                        let inf = ("le", "+Inf".to_string());
                        let bucket = format!("{name}_bucket");
                        sample(&mut out, &bucket, labels, Some(inf), n.count as f64, ts);
                        sample(&mut out, &format!("{name}_sum"), labels, None, n.sum, ts);
                        let c = format!("{name}_count");
                        sample(&mut out, &c, labels, None, n.count as f64, ts);
                    }
                    Value::Summary {
                        quantiles,
                        sum,
                        count,
                    } => {
                        for (q, v) in quantiles {
                            let quantile = ("quantile", float(*q));
                            sample(&mut out, name, labels, Some(quantile), *v, ts);
                        }
                        sample(&mut out, &format!("{name}_sum"), labels, None, *sum, ts);
                        let c = format!("{name}_count");
                        sample(&mut out, &c, labels, None, *count as f64, ts);
                    }
                }
            }
        }
        if open_metrics {
            out.push_str("# EOF\n");
        }
        out
    }

    /// The families by name, with at least one series.
    pub(crate) fn families(&self) -> impl Iterator<Item = (&String, &Family)> {
        self.families
            .iter()
            .filter(|(_, f)| f.ty.is_some() && !f.series.is_empty())
    }

    /// Number of series (for tests and the exporter's log).
    #[cfg(test)]
    pub(crate) fn series(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &Labels,
    extra: Option<(&str, String)>,
    value: f64,
    ts: &str,
) {
    out.push_str(name);
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.as_ref().map(|(k, v)| (*k, v.as_str())));
    let mut first = true;
    for (k, v) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape_value(v));
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {}{ts}", float(value));
}

/// Sorted by name; a name given twice keeps its values joined with `;` (as the Collector does
/// for attribute keys that sanitise to the same label); empty values dropped.
fn normalise(labels: Labels) -> Labels {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in labels {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        map.entry(k)
            .and_modify(|old| {
                old.push(';');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    map.into_iter().collect()
}

fn attribute_labels(attributes: &[KeyValue]) -> Labels {
    attributes
        .iter()
        .map(|kv| (label_name(&kv.key), value_to_string(kv.value.as_ref())))
        .collect()
}

fn scope_labels(scope: Option<&InstrumentationScope>) -> Labels {
    let Some(s) = scope else { return Vec::new() };
    vec![
        ("otel_scope_name".to_string(), s.name.clone()),
        ("otel_scope_version".to_string(), s.version.clone()),
    ]
}

/// `job` (`service.namespace/service.name`) and `instance` (`service.instance.id`).
fn job_instance(resource: Option<&Resource>) -> Labels {
    let attr = |key: &str| {
        resource
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == key))
            .map(|kv| value_to_string(kv.value.as_ref()))
            .unwrap_or_default()
    };
    let name = attr("service.name");
    let namespace = attr("service.namespace");
    let job = match (namespace.is_empty(), name.is_empty()) {
        (_, true) => String::new(),
        (true, false) => name,
        (false, false) => format!("{namespace}/{name}"),
    };
    vec![
        ("job".to_string(), job),
        ("instance".to_string(), attr("service.instance.id")),
    ]
}

/// Explicit bounds and per-bucket counts of a classic histogram point (counts padded or cut to
/// one more than the bounds).
fn classic(p: &HistogramDataPoint) -> (Vec<f64>, Vec<u64>) {
    let bounds = p.explicit_bounds.clone();
    let mut counts = p.bucket_counts.clone();
    counts.resize(bounds.len() + 1, 0);
    (bounds, counts)
}
