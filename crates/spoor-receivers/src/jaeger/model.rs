//! The Jaeger span model shared by the thrift and protobuf decoders, and its translation to OTLP
//! (the OTel Collector's `jaeger` translator rules).

use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use spoor_model::{attr, otlp_trace::span::SpanKind};

/// A decoded Jaeger batch: the reporting process and its spans (a span may carry its own
/// process in the protobuf model).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JaegerBatch {
    pub process: Option<JaegerProcess>,
    pub spans: Vec<JaegerSpan>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JaegerProcess {
    pub service_name: String,
    pub tags: Vec<JaegerTag>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JaegerSpan {
    /// 128-bit trace id; 64-bit ids are left-padded with zeros (`traceIdHigh` = 0).
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// Thrift's `parentSpanId`; all zeros when absent (protobuf carries parents as references).
    pub parent_span_id: [u8; 8],
    pub operation_name: String,
    pub references: Vec<JaegerRef>,
    pub flags: u32,
    pub start_unix_nano: u64,
    pub duration_nano: u64,
    pub tags: Vec<JaegerTag>,
    pub logs: Vec<JaegerLog>,
    pub process: Option<JaegerProcess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    ChildOf,
    FollowsFrom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JaegerRef {
    pub ref_type: RefType,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct JaegerLog {
    pub timestamp_unix_nano: u64,
    pub fields: Vec<JaegerTag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JaegerTag {
    pub key: String,
    pub value: TagValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    Str(String),
    Bool(bool),
    Long(i64),
    Double(f64),
    Binary(Vec<u8>),
}

impl JaegerTag {
    pub fn new(key: &str, value: TagValue) -> Self {
        Self {
            key: key.to_string(),
            value,
        }
    }
}

/// 64-bit high/low halves → 16 bytes, big-endian (the Jaeger and OTLP byte order).
pub fn trace_id_from_halves(high: i64, low: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&high.to_be_bytes());
    out[8..].copy_from_slice(&low.to_be_bytes());
    out
}

fn tags_to_attributes(tags: Vec<JaegerTag>) -> Vec<KeyValue> {
    tags.into_iter()
        .map(|t| {
            let value = match t.value {
                TagValue::Str(s) => Value::StringValue(s),
                TagValue::Bool(b) => Value::BoolValue(b),
                TagValue::Long(n) => Value::IntValue(n),
                TagValue::Double(d) => Value::DoubleValue(d),
                TagValue::Binary(b) => Value::BytesValue(b),
            };
            KeyValue {
                key: t.key,
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            }
        })
        .collect()
}

fn take(attrs: &mut Vec<KeyValue>, key: &str) -> Option<Value> {
    let i = attrs.iter().position(|kv| kv.key == key)?;
    attrs.remove(i).value.and_then(|v| v.value)
}

fn value_str(v: &Value) -> String {
    match v {
        Value::StringValue(s) => s.clone(),
        other => attr::value_to_string(Some(&AnyValue {
            value: Some(other.clone()),
        })),
    }
}

fn process_to_resource(process: Option<JaegerProcess>) -> Resource {
    let Some(process) = process else {
        return Resource::default();
    };
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() {
        attributes.push(attr::string("service.name", process.service_name));
    }
    attributes.extend(tags_to_attributes(process.tags));
    // The collector's special process keys.
    if attr::find(&attributes, "host.name").is_none()
        && let Some(i) = attributes.iter().position(|kv| kv.key == "hostname")
    {
        attributes[i].key = "host.name".to_string();
    }
    if attr::find(&attributes, "opencensus.exporterversion").is_none()
        && let Some(v) = take(&mut attributes, "jaeger.version")
    {
        attributes.push(attr::string(
            "opencensus.exporterversion",
            format!("Jaeger-{}", value_str(&v)),
        ));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// Jaeger's parent rule: `parentSpanId` if set, else the first same-trace CHILD_OF reference,
/// else the first same-trace FOLLOWS_FROM reference.
fn parent_of(span: &JaegerSpan) -> [u8; 8] {
    if span.parent_span_id != [0; 8] {
        return span.parent_span_id;
    }
    let same_trace = || {
        span.references
            .iter()
            .filter(|r| r.trace_id == span.trace_id)
    };
    same_trace()
        .find(|r| r.ref_type == RefType::ChildOf)
        .or_else(|| same_trace().find(|r| r.ref_type == RefType::FollowsFrom))
        .map(|r| r.span_id)
        .unwrap_or([0; 8])
}

/// The kind a `span.kind` tag names, in any case and with or without the OTLP `SPAN_KIND_`
/// prefix; `None` for a value that names no kind (the tag is then kept as an attribute).
fn kind_from_tag(v: &Value) -> Option<SpanKind> {
    let text = value_str(v);
    let lower = text.to_ascii_lowercase();
    let name = lower.strip_prefix("span_kind_").unwrap_or(&lower);
    SpanKind::try_from(spoor_model::span_kind_from_name(name))
        .ok()
        .filter(|kind| *kind != SpanKind::Unspecified)
}

/// The collector's status rules: `error=true` wins, then `otel.status_code`, then an HTTP status
/// code (4xx is an error for clients only). Consumed tags are removed.
pub(crate) fn status_from_attributes(attrs: &mut Vec<KeyValue>, kind: SpanKind) -> Option<Status> {
    let mut code = None;
    let mut message = String::new();
    if matches!(
        attr::find(attrs, "error").and_then(|v| v.value.as_ref()),
        Some(Value::BoolValue(true))
    ) {
        take(attrs, "error");
        code = Some(status::StatusCode::Error);
        if let Some(desc) = take(attrs, "otel.status_description") {
            message = value_str(&desc);
        } else if let Some(msg) = attr::find(attrs, "http.status_message") {
            message = attr::value_to_string(Some(msg));
        }
    }
    if let Some(v) = take(attrs, "otel.status_code") {
        if code.is_none() {
            code = Some(match value_str(&v).to_ascii_uppercase().as_str() {
                "OK" => status::StatusCode::Ok,
                "ERROR" => status::StatusCode::Error,
                _ => status::StatusCode::Unset,
            });
            if let Some(desc) = take(attrs, "otel.status_description") {
                message = value_str(&desc);
            }
        }
    } else if code.is_none()
        && let Some(http) = attr::find(attrs, "http.status_code")
    {
        let n = match http.value.as_ref() {
            Some(Value::IntValue(n)) => Some(*n),
            Some(Value::StringValue(s)) => s.parse().ok(),
            _ => None,
        };
        if let Some(n) = n {
            let http_code = match n {
                400..=499 if kind == SpanKind::Server => status::StatusCode::Unset,
                400..=499 if kind == SpanKind::Client => status::StatusCode::Error,
                100..=399 => status::StatusCode::Unset,
                _ => status::StatusCode::Error,
            };
            if http_code != status::StatusCode::Unset {
                code = Some(http_code);
                if let Some(msg) = attr::find(attrs, "http.status_message") {
                    message = attr::value_to_string(Some(msg));
                }
            }
        }
    }
    code.map(|c| Status {
        code: c as i32,
        message,
    })
}

/// Removes and returns the scope (`otel.scope.*`, or the older `otel.library.*`).
pub(crate) fn take_scope(attrs: &mut Vec<KeyValue>) -> (String, String) {
    for (name_key, version_key) in [
        ("otel.scope.name", "otel.scope.version"),
        ("otel.library.name", "otel.library.version"),
    ] {
        if let Some(name) = take(attrs, name_key) {
            let version = take(attrs, version_key).map(|v| value_str(&v));
            return (value_str(&name), version.unwrap_or_default());
        }
    }
    (String::new(), String::new())
}

fn to_otlp_span(span: JaegerSpan) -> (Span, (String, String)) {
    let parent = parent_of(&span);
    let mut attributes = tags_to_attributes(span.tags);
    let kind = match take(&mut attributes, "span.kind") {
        Some(tag) => match kind_from_tag(&tag) {
            Some(kind) => kind,
            None => {
                attributes.push(KeyValue {
                    key: "span.kind".to_string(),
                    value: Some(AnyValue { value: Some(tag) }),
                    ..Default::default()
                });
                SpanKind::Unspecified
            }
        },
        None => SpanKind::Unspecified,
    };
    let status = status_from_attributes(&mut attributes, kind);
    let trace_state = take(&mut attributes, "w3c.tracestate")
        .map(|v| value_str(&v))
        .unwrap_or_default();
    let scope = take_scope(&mut attributes);
    let events = span
        .logs
        .into_iter()
        .map(|log| {
            let mut attributes = tags_to_attributes(log.fields);
            let name = take(&mut attributes, "event")
                .map(|v| value_str(&v))
                .unwrap_or_default();
            span::Event {
                time_unix_nano: log.timestamp_unix_nano,
                name,
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let links = span
        .references
        .iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == RefType::ChildOf))
        .map(|r| span::Link {
            trace_id: r.trace_id.to_vec(),
            span_id: r.span_id.to_vec(),
            attributes: vec![attr::string(
                "opentracing.ref_type",
                match r.ref_type {
                    RefType::ChildOf => "child_of",
                    RefType::FollowsFrom => "follows_from",
                },
            )],
            ..Default::default()
        })
        .collect();
    let otlp = Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        trace_state,
        parent_span_id: if parent == [0; 8] {
            Vec::new()
        } else {
            parent.to_vec()
        },
        name: span.operation_name,
        kind: kind as i32,
        start_time_unix_nano: span.start_unix_nano,
        end_time_unix_nano: span.start_unix_nano.saturating_add(span.duration_nano),
        attributes,
        events,
        links,
        status,
        ..Default::default()
    };
    (otlp, scope)
}

/// Spans of one (scope name, scope version).
type ScopeGroup = ((String, String), Vec<Span>);

/// Translates a batch to OTLP: one `ResourceSpans` per distinct process, one `ScopeSpans` per
/// distinct scope within it. Returns the spans in the order received within each group.
pub fn batch_to_otlp(batch: JaegerBatch) -> Vec<ResourceSpans> {
    // (process, [(scope, spans)]) in first-seen order; processes are few, a linear scan is fine.
    let mut groups: Vec<(Option<JaegerProcess>, Vec<ScopeGroup>)> = Vec::new();
    let batch_process = batch.process;
    if batch.spans.is_empty() {
        if batch_process.is_some() {
            groups.push((batch_process, Vec::new()));
        }
    } else {
        // The batch's process is cloned once, not per span; spans with their own process (the
        // protobuf model allows it) find or add their group.
        let mut batch_group = None;
        for mut span in batch.spans {
            let own = span.process.take();
            let (otlp, scope) = to_otlp_span(span);
            let gi = match (own, batch_group) {
                (None, Some(i)) => i,
                (None, None) => {
                    let i = match groups.iter().position(|(p, _)| *p == batch_process) {
                        Some(i) => i,
                        None => {
                            groups.push((batch_process.clone(), Vec::new()));
                            groups.len() - 1
                        }
                    };
                    batch_group = Some(i);
                    i
                }
                (Some(own), _) => {
                    let own = Some(own);
                    match groups.iter().position(|(p, _)| *p == own) {
                        Some(i) => i,
                        None => {
                            groups.push((own, Vec::new()));
                            groups.len() - 1
                        }
                    }
                }
            };
            let scopes = &mut groups[gi].1;
            match scopes.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, spans)) => spans.push(otlp),
                None => scopes.push((scope, vec![otlp])),
            }
        }
    }
    groups
        .into_iter()
        .map(|(process, scopes)| ResourceSpans {
            resource: Some(process_to_resource(process)),
            scope_spans: scopes
                .into_iter()
                .map(|((name, version), spans)| ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name,
                        version,
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}
