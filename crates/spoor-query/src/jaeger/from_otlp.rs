use std::borrow::Cow;
use std::collections::BTreeMap;

use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue as OtlpKv, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, Span as OtlpSpan, SpanId, TraceId, span_kind_name};

use crate::dedup::WARNINGS_ATTRIBUTE;

use super::view::{LogView, SpanView, TagView, ValueView};
use super::{KeyValue, Process, RefType, Reference, Span, TagValue, Trace, trace_id_string};

/// Service name Jaeger uses for a resource without `service.name`.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

impl Trace {
    /// Converts the spans of one trace. Spans keep their stored order; identical resources
    /// share one process (`p1`, `p2`, … in order of first use).
    pub fn from_otlp(resource_spans: &[ResourceSpans]) -> Trace {
        let (processes, process_ids) = processes(resource_spans);
        let mut spans = Vec::new();
        for (rs, process_id) in resource_spans.iter().zip(&process_ids) {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans.push(span_from_otlp(span, ss.scope.as_ref(), process_id));
                }
            }
        }
        Trace {
            trace_id: first_trace_id(resource_spans),
            spans,
            processes,
            warnings: None,
        }
    }
}

/// The processes of a trace's resources (identical resources share one, `p1`, `p2`, … in
/// order of first use) and, per resource, its process id.
pub(crate) fn processes(
    resource_spans: &[ResourceSpans],
) -> (BTreeMap<String, Process>, Vec<String>) {
    let mut processes: Vec<Process> = Vec::new();
    let mut ids = Vec::with_capacity(resource_spans.len());
    for rs in resource_spans {
        let process = process_from_resource(rs.resource.as_ref());
        let index = match processes.iter().position(|p| *p == process) {
            Some(i) => i,
            None => {
                processes.push(process);
                processes.len() - 1
            }
        };
        ids.push(format!("p{}", index + 1));
    }
    let processes = processes
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("p{}", i + 1), p))
        .collect();
    (processes, ids)
}

/// The trace id as Jaeger prints it, from the trace's first span with a valid one (empty
/// without).
pub(crate) fn first_trace_id(resource_spans: &[ResourceSpans]) -> String {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| id_string(&span.trace_id, 16))
        .find(|id| !id.is_empty())
        .unwrap_or_default()
}

fn process_from_resource(resource: Option<&Resource>) -> Process {
    let mut service_name = NO_SERVICE_NAME.to_string();
    let mut tags = Vec::new();
    for kv in resource
        .map(|r| r.attributes.as_slice())
        .unwrap_or_default()
    {
        if kv.key == "service.name"
            && let Some(any_value::Value::StringValue(s)) =
                kv.value.as_ref().and_then(|v| v.value.as_ref())
        {
            service_name = s.clone();
            continue;
        }
        tags.push(tag_from_otlp(kv));
    }
    Process { service_name, tags }
}

/// Renders an id of `width` bytes (16: trace, 8: span); shorter ids are left-padded, and an id
/// that cannot be one (empty or too long; receivers reject those) renders empty.
fn id_string(bytes: &[u8], width: usize) -> String {
    if width == 16 {
        TraceId::from_bytes(bytes)
            .map(|id| trace_id_string(&id))
            .unwrap_or_default()
    } else {
        SpanId::from_bytes(bytes)
            .map(|id| id.to_hex())
            .unwrap_or_default()
    }
}

/// The reference type a link stands for: `opentracing.ref_type` when a Jaeger or OpenTracing
/// client set it, else FOLLOWS_FROM (CHILD_OF comes from the parent id).
fn link_ref_type(link: &spoor_model::otlp_trace::span::Link) -> RefType {
    match spoor_model::attr::find_str(&link.attributes, "opentracing.ref_type") {
        Some("child_of") => RefType::ChildOf,
        _ => RefType::FollowsFrom,
    }
}

pub(crate) fn span_from_otlp(
    span: &OtlpSpan,
    scope: Option<&InstrumentationScope>,
    process_id: &str,
) -> Span {
    span_view(span, scope, process_id).into_owned()
}

/// The span as Jaeger shows it, borrowing the OTLP strings: what both the owned model
/// ([`span_from_otlp`]) and the streamed JSON (`stream.rs`) are made from.
pub(crate) fn span_view<'a>(
    span: &'a OtlpSpan,
    scope: Option<&'a InstrumentationScope>,
    process_id: &'a str,
) -> SpanView<'a> {
    let trace_id = id_string(&span.trace_id, 16);
    let mut references = Vec::with_capacity(1 + span.links.len());
    if !span.parent_span_id.is_empty() && span.parent_span_id.iter().any(|b| *b != 0) {
        references.push(Reference {
            ref_type: RefType::ChildOf,
            trace_id: trace_id.clone(),
            span_id: id_string(&span.parent_span_id, 8),
        });
    }
    let has_parent = !references.is_empty();
    for link in &span.links {
        let ref_type = link_ref_type(link);
        // A link to the parent itself only says which kind of reference the parent is, as in
        // Jaeger's translator: one reference, typed by the link.
        if has_parent && link.trace_id == span.trace_id && link.span_id == span.parent_span_id {
            references[0].ref_type = ref_type;
            continue;
        }
        references.push(Reference {
            ref_type,
            trace_id: id_string(&link.trace_id, 16),
            span_id: id_string(&link.span_id, 8),
        });
    }
    let start = span.start_time_unix_nano;
    SpanView {
        trace_id,
        span_id: id_string(&span.span_id, 8),
        operation_name: &span.name,
        references,
        start_time: start / 1000,
        duration: span.end_time_unix_nano.saturating_sub(start) / 1000,
        tags: span_tags(span, scope),
        logs: span
            .events
            .iter()
            .map(|e| {
                let mut fields = Vec::with_capacity(e.attributes.len() + 1);
                if !e.name.is_empty() && !e.attributes.iter().any(|kv| kv.key == "event") {
                    fields.push(TagView::str("event", &e.name));
                }
                fields.extend(e.attributes.iter().map(tag_view));
                LogView {
                    timestamp: e.time_unix_nano / 1000,
                    fields,
                }
            })
            .collect(),
        process_id,
        warnings: span_warnings(span),
        flags: span.flags & 0xff,
    }
}

/// Tags in the order Jaeger's translator emits them: scope, attributes, kind, status code,
/// error, status message, trace state, dropped counts.
fn span_tags<'a>(span: &'a OtlpSpan, scope: Option<&'a InstrumentationScope>) -> Vec<TagView<'a>> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 6);
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(TagView::str("otel.scope.name", &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(TagView::str("otel.scope.version", &scope.version));
        }
    }
    tags.extend(
        span.attributes
            .iter()
            .filter(|kv| kv.key != WARNINGS_ATTRIBUTE)
            .map(tag_view),
    );
    let kind = span_kind_name(span.kind);
    if !kind.is_empty() {
        tags.push(TagView::str("span.kind", kind));
    }
    if let Some(status) = &span.status {
        match StatusCode::try_from(status.code) {
            Ok(StatusCode::Ok) => tags.push(TagView::str("otel.status_code", "OK")),
            Ok(StatusCode::Error) => {
                tags.push(TagView::str("otel.status_code", "ERROR"));
                tags.push(TagView {
                    key: "error",
                    value: ValueView::Bool(true),
                });
            }
            _ => {}
        }
        if !status.message.is_empty() {
            tags.push(TagView::str("otel.status_description", &status.message));
        }
    }
    if !span.trace_state.is_empty() {
        tags.push(TagView::str("w3c.tracestate", &span.trace_state));
    }
    for (key, count) in [
        (
            "otel.dropped_attributes_count",
            span.dropped_attributes_count,
        ),
        ("otel.dropped_events_count", span.dropped_events_count),
        ("otel.dropped_links_count", span.dropped_links_count),
    ] {
        if count > 0 {
            tags.push(TagView {
                key,
                value: ValueView::Int64(i64::from(count)),
            });
        }
    }
    tags
}

/// The query layer's warnings ([`WARNINGS_ATTRIBUTE`]) as Jaeger's span `warnings`.
fn span_warnings(span: &OtlpSpan) -> Option<Vec<String>> {
    let kv = span
        .attributes
        .iter()
        .find(|kv| kv.key == WARNINGS_ATTRIBUTE)?;
    let warnings: Vec<String> = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::ArrayValue(array)) => array
            .values
            .iter()
            .map(|v| spoor_model::attr::value_to_string(Some(v)))
            .collect(),
        Some(_) => vec![spoor_model::attr::value_to_string(kv.value.as_ref())],
        None => Vec::new(),
    };
    (!warnings.is_empty()).then_some(warnings)
}

fn tag_from_otlp(kv: &OtlpKv) -> KeyValue {
    tag_view(kv).into_owned()
}

fn tag_view(kv: &OtlpKv) -> TagView<'_> {
    TagView {
        key: &kv.key,
        value: value_view(kv.value.as_ref()),
    }
}

/// An OTLP value as a Jaeger tag value: arrays and maps become their JSON text.
pub fn tag_from_any_value(value: Option<&AnyValue>) -> TagValue {
    value_view(value).into_owned()
}

fn value_view(value: Option<&AnyValue>) -> ValueView<'_> {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => ValueView::String(Cow::Borrowed(s)),
        Some(any_value::Value::BoolValue(b)) => ValueView::Bool(*b),
        Some(any_value::Value::IntValue(i)) => ValueView::Int64(*i),
        Some(any_value::Value::DoubleValue(d)) => ValueView::Float64(*d),
        Some(any_value::Value::BytesValue(b)) => ValueView::Binary(b),
        _ => ValueView::String(Cow::Owned(spoor_model::attr::value_to_string(value))),
    }
}
