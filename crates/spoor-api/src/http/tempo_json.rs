//! Tempo's JSON shapes: search results, tag names and values, traces by id.

use serde::Serialize;
use spoor_model::ResourceSpans;
use spoor_query::plan::Value;
use spoor_query::{MatchedSpanset, MetricsSeries, TagNames, TraceMatch};

#[derive(Serialize)]
pub(super) struct TraceV1<'a> {
    pub batches: &'a [ResourceSpans],
}

#[derive(Serialize)]
pub(super) struct TraceV2<'a> {
    pub trace: TraceV2Inner<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TraceV2Inner<'a> {
    pub resource_spans: &'a [ResourceSpans],
}

/// `/api/search`'s answer.
#[derive(Serialize)]
pub(super) struct SearchResponse {
    traces: Vec<SearchTrace>,
    metrics: SearchMetrics,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchMetrics {
    inspected_traces: u64,
    inspected_bytes: String,
    total_blocks: u64,
    completed_jobs: u64,
    total_jobs: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchTrace {
    #[serde(rename = "traceID")]
    trace_id: String,
    root_service_name: String,
    root_trace_name: String,
    start_time_unix_nano: String,
    duration_ms: u64,
    /// The first spanset, as Tempo before `spanSets` existed reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    span_set: Option<SpanSet>,
    span_sets: Vec<SpanSet>,
}

#[derive(Serialize, Clone)]
struct SpanSet {
    spans: Vec<SearchSpan>,
    matched: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<Attribute>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SearchSpan {
    #[serde(rename = "spanID")]
    span_id: String,
    name: String,
    start_time_unix_nano: String,
    duration_nanos: String,
    attributes: Vec<Attribute>,
}

/// An OTLP JSON key-value (`{"key":"k","value":{"stringValue":"v"}}`).
#[derive(Serialize, Clone)]
pub(super) struct Attribute {
    key: String,
    value: serde_json::Value,
}

fn attribute(key: &str, v: &Value) -> Attribute {
    let value = match v {
        Value::Int(i) => serde_json::json!({ "intValue": i.to_string() }),
        Value::Float(f) => serde_json::json!({ "doubleValue": f }),
        Value::Bool(b) => serde_json::json!({ "boolValue": b }),
        other => serde_json::json!({ "stringValue": other.to_text() }),
    };
    // Tempo reports attributes by name, without the scope.
    let key = key
        .strip_prefix("span.")
        .or_else(|| key.strip_prefix("resource."))
        .or_else(|| key.strip_prefix('.'))
        .unwrap_or(key);
    Attribute {
        key: key.to_string(),
        value,
    }
}

fn spanset(set: &MatchedSpanset) -> SpanSet {
    SpanSet {
        spans: set
            .spans
            .iter()
            .map(|s| {
                let mut attributes =
                    vec![attribute("service.name", &Value::Str(s.service.clone()))];
                attributes.extend(
                    s.attributes
                        .iter()
                        .map(|(k, v)| attribute(k, v))
                        .filter(|a| a.key != "service.name"),
                );
                SearchSpan {
                    span_id: s.span_id.to_hex(),
                    name: s.name.clone(),
                    start_time_unix_nano: s.start_time_unix_nano.to_string(),
                    duration_nanos: s.duration_nanos.to_string(),
                    attributes,
                }
            })
            .collect(),
        matched: set.matched,
        attributes: set.by.iter().map(|(k, v)| attribute(k, v)).collect(),
    }
}

impl SearchResponse {
    pub(super) fn of(found: &[TraceMatch]) -> Self {
        let traces = found
            .iter()
            .map(|t| {
                let s = &t.summary;
                let sets: Vec<SpanSet> = t.spansets.iter().map(spanset).collect();
                SearchTrace {
                    trace_id: s.trace_id.to_hex(),
                    root_service_name: if s.root_service_name.is_empty() {
                        "<root span not yet received>".to_string()
                    } else {
                        s.root_service_name.clone()
                    },
                    root_trace_name: s.root_operation_name.clone(),
                    start_time_unix_nano: s.min_start_time_unix_nano.to_string(),
                    duration_ms: s
                        .max_end_time_unix_nano
                        .saturating_sub(s.min_start_time_unix_nano)
                        / 1_000_000,
                    span_set: sets.first().cloned(),
                    span_sets: sets,
                }
            })
            .collect();
        SearchResponse {
            traces,
            metrics: SearchMetrics {
                inspected_traces: found.len() as u64,
                inspected_bytes: "0".to_string(),
                total_blocks: 0,
                completed_jobs: 1,
                total_jobs: 1,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagNamesV1 {
    pub tag_names: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct TagScopes {
    scopes: Vec<TagScope>,
}

#[derive(Serialize)]
struct TagScope {
    name: &'static str,
    tags: Vec<String>,
}

/// Intrinsics listed under the `intrinsic` scope, as Tempo lists them.
const INTRINSICS: [&str; 10] = [
    "duration",
    "event:name",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
    "trace:id",
];

impl TagScopes {
    /// `None` when `scope` is not one Tempo knows.
    pub(super) fn of(names: TagNames, scope: &str) -> Option<Self> {
        let all = [
            ("resource", names.resource),
            ("span", names.span),
            ("event", names.event),
            ("link", names.link),
            ("instrumentation", names.instrumentation),
        ];
        let valid = matches!(
            scope,
            "all"
                | "none"
                | "resource"
                | "span"
                | "event"
                | "link"
                | "instrumentation"
                | "intrinsic"
        );
        if !valid {
            return None;
        }
        let mut scopes: Vec<TagScope> = all
            .into_iter()
            .filter(|(name, _)| matches!(scope, "all" | "none") || scope == *name)
            .map(|(name, tags)| TagScope {
                name,
                tags: tags.into_iter().collect(),
            })
            .collect();
        if matches!(scope, "all" | "none" | "intrinsic") {
            scopes.push(TagScope {
                name: "intrinsic",
                tags: INTRINSICS.iter().map(|s| s.to_string()).collect(),
            });
        }
        Some(TagScopes { scopes })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagValuesV1 {
    pub tag_values: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagValuesV2 {
    tag_values: Vec<TypedValue>,
}

#[derive(Serialize)]
struct TypedValue {
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
}

impl TagValuesV2 {
    pub(super) fn of(values: &[Value], keyword: bool) -> Self {
        TagValuesV2 {
            tag_values: values
                .iter()
                .map(|v| TypedValue {
                    kind: match v {
                        _ if keyword => "keyword",
                        Value::Int(_) => "int",
                        Value::Float(_) => "float",
                        Value::Bool(_) => "bool",
                        Value::Duration(_) => "duration",
                        Value::Status(_) | Value::Kind(_) => "keyword",
                        _ => "string",
                    },
                    value: v.to_text(),
                })
                .collect(),
        }
    }
}

/// Series labels as OTLP key-values and as Prometheus text (`{a="b"}`).
fn series_labels(s: &MetricsSeries) -> (Vec<Attribute>, String) {
    let attrs = s
        .labels
        .iter()
        .map(|(k, v)| Attribute {
            key: k.clone(),
            value: match v {
                Value::Int(i) => serde_json::json!({ "intValue": i.to_string() }),
                Value::Float(f) => serde_json::json!({ "doubleValue": f }),
                Value::Bool(b) => serde_json::json!({ "boolValue": b }),
                other => serde_json::json!({ "stringValue": other.to_text() }),
            },
        })
        .collect();
    let prom = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.to_text())))
        .collect::<Vec<_>>()
        .join(", ");
    (attrs, format!("{{{prom}}}"))
}

/// `/api/metrics/query_range`'s answer.
#[derive(Serialize)]
pub(super) struct MetricsRangeResponse {
    series: Vec<RangeSeries>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RangeSeries {
    labels: Vec<Attribute>,
    samples: Vec<Sample>,
    prom_labels: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sample {
    timestamp_ms: String,
    value: f64,
}

impl MetricsRangeResponse {
    pub(super) fn of(series: &[MetricsSeries]) -> Self {
        MetricsRangeResponse {
            series: series
                .iter()
                .map(|s| {
                    let (labels, prom_labels) = series_labels(s);
                    RangeSeries {
                        labels,
                        samples: s
                            .samples
                            .iter()
                            .map(|(t, v)| Sample {
                                timestamp_ms: t.to_string(),
                                value: *v,
                            })
                            .collect(),
                        prom_labels,
                    }
                })
                .collect(),
        }
    }
}

/// `/api/metrics/query`'s answer: one value per series.
#[derive(Serialize)]
pub(super) struct MetricsInstantResponse {
    series: Vec<InstantSeries>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstantSeries {
    labels: Vec<Attribute>,
    value: f64,
    prom_labels: String,
}

impl MetricsInstantResponse {
    pub(super) fn of(series: &[MetricsSeries]) -> Self {
        MetricsInstantResponse {
            series: series
                .iter()
                .map(|s| {
                    let (labels, prom_labels) = series_labels(s);
                    InstantSeries {
                        labels,
                        value: s.samples.first().map(|(_, v)| *v).unwrap_or(0.0),
                        prom_labels,
                    }
                })
                .collect(),
        }
    }
}
