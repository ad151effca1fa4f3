//! Stored traces as api_v2 `Span`s: tags, references, logs and processes come from the
//! [`spoor_query::jaeger`] model (the one OTLP → Jaeger translation in Spoor); ids and times come
//! from the OTLP spans themselves, so ids are binary and times keep their nanoseconds.

use spoor_model::{SpanId, TraceId};
use spoor_query::jaeger;
use spoor_storage::Trace;

use super::proto::api_v2 as pb;
use super::request::{duration, timestamp};

/// The api_v2 spans of a stored trace, in stored order, each with its process inline.
pub fn spans(trace: &Trace) -> Vec<pb::Span> {
    let model = jaeger::Trace::from_otlp(&trace.resource_spans);
    // `Trace::from_otlp` emits one span per OTLP span, resource by resource, scope by scope, and
    // one log per event, in order: zipping pairs each model span with its OTLP span.
    let otlp = trace
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter());
    model
        .spans
        .iter()
        .zip(otlp)
        .map(|(span, source)| {
            debug_assert_eq!(
                SpanId::from_bytes(&source.span_id)
                    .map(|id| id.to_hex())
                    .ok(),
                Some(span.span_id.clone()).filter(|s| !s.is_empty()),
                "jaeger model and OTLP spans out of step"
            );
            let start = source.start_time_unix_nano;
            pb::Span {
                trace_id: TraceId::from_bytes(&source.trace_id)
                    .unwrap_or(trace.id)
                    .0
                    .to_vec(),
                span_id: SpanId::from_bytes(&source.span_id)
                    .map(|id| id.0.to_vec())
                    .unwrap_or_default(),
                operation_name: span.operation_name.clone(),
                references: span.references.iter().map(reference).collect(),
                flags: span.flags,
                start_time: Some(timestamp(start)),
                duration: Some(duration(source.end_time_unix_nano.saturating_sub(start))),
                tags: span.tags.iter().map(key_value).collect(),
                logs: span
                    .logs
                    .iter()
                    .zip(source.events.iter())
                    .map(|(log, event)| pb::Log {
                        timestamp: Some(timestamp(event.time_unix_nano)),
                        fields: log.fields.iter().map(key_value).collect(),
                    })
                    .collect(),
                process: model.processes.get(&span.process_id).map(process),
                // As Jaeger's query service: the process is inline, the id left empty.
                process_id: String::new(),
                warnings: span.warnings.clone().unwrap_or_default(),
            }
        })
        .collect()
}

fn reference(r: &jaeger::Reference) -> pb::SpanRef {
    pb::SpanRef {
        trace_id: r
            .trace_id
            .parse::<TraceId>()
            .map(|id| id.0.to_vec())
            .unwrap_or_default(),
        span_id: r
            .span_id
            .parse::<SpanId>()
            .map(|id| id.0.to_vec())
            .unwrap_or_default(),
        ref_type: match r.ref_type {
            jaeger::RefType::ChildOf => pb::SpanRefType::ChildOf,
            jaeger::RefType::FollowsFrom => pb::SpanRefType::FollowsFrom,
        } as i32,
    }
}

fn process(p: &jaeger::Process) -> pb::Process {
    pb::Process {
        service_name: p.service_name.clone(),
        tags: p.tags.iter().map(key_value).collect(),
    }
}

/// A typed tag: `v_type` names the one `v_*` field set.
pub fn key_value(kv: &jaeger::KeyValue) -> pb::KeyValue {
    let mut out = pb::KeyValue {
        key: kv.key.clone(),
        ..Default::default()
    };
    let v_type = match &kv.value {
        jaeger::TagValue::String(s) => {
            out.v_str = s.clone();
            pb::ValueType::String
        }
        jaeger::TagValue::Bool(b) => {
            out.v_bool = *b;
            pb::ValueType::Bool
        }
        jaeger::TagValue::Int64(i) => {
            out.v_int64 = *i;
            pb::ValueType::Int64
        }
        jaeger::TagValue::Float64(f) => {
            out.v_float64 = *f;
            pb::ValueType::Float64
        }
        jaeger::TagValue::Binary(b) => {
            out.v_binary = b.clone();
            pb::ValueType::Binary
        }
    };
    out.v_type = v_type as i32;
    out
}
