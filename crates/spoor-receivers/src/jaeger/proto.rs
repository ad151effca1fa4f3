//! Jaeger api_v2 protobuf (`proto/jaeger/api_v2/`) and its conversion to the shared Jaeger model.

use super::model::{
    JaegerBatch, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, RefType, TagValue,
};

/// Generated from `proto/jaeger/api_v2/{model,collector}.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v2 {
    tonic::include_proto!("jaeger.api_v2");
}

/// Why a protobuf batch is not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtoError {
    #[error("span {name:?} has a {len}-byte trace id, expected 16")]
    TraceId { name: String, len: usize },
    #[error("span {name:?} has a {len}-byte span id, expected 8")]
    SpanId { name: String, len: usize },
}

fn trace_id(bytes: &[u8], name: &str) -> Result<[u8; 16], ProtoError> {
    // Jaeger marshals 128-bit ids as 16 bytes; accept 8 (a 64-bit id) and left-pad it.
    spoor_model::TraceId::from_bytes(bytes)
        .map(|id| id.0)
        .map_err(|_| ProtoError::TraceId {
            name: name.to_string(),
            len: bytes.len(),
        })
}

fn span_id(bytes: &[u8], name: &str) -> Result<[u8; 8], ProtoError> {
    spoor_model::SpanId::from_bytes(bytes)
        .map(|id| id.0)
        .map_err(|_| ProtoError::SpanId {
            name: name.to_string(),
            len: bytes.len(),
        })
}

fn tags(kvs: Vec<api_v2::KeyValue>) -> Vec<JaegerTag> {
    kvs.into_iter()
        .map(|kv| {
            let value = match api_v2::ValueType::try_from(kv.v_type) {
                Ok(api_v2::ValueType::String) => TagValue::Str(kv.v_str),
                Ok(api_v2::ValueType::Bool) => TagValue::Bool(kv.v_bool),
                Ok(api_v2::ValueType::Int64) => TagValue::Long(kv.v_int64),
                Ok(api_v2::ValueType::Float64) => TagValue::Double(kv.v_float64),
                Ok(api_v2::ValueType::Binary) => TagValue::Binary(kv.v_binary),
                Err(_) => TagValue::Str(format!("<Unknown Jaeger TagType \"{}\">", kv.v_type)),
            };
            JaegerTag { key: kv.key, value }
        })
        .collect()
}

fn process(p: api_v2::Process) -> JaegerProcess {
    JaegerProcess {
        service_name: p.service_name,
        tags: tags(p.tags),
    }
}

fn timestamp_nanos(ts: Option<prost_types::Timestamp>) -> u64 {
    ts.map(|t| {
        (t.seconds as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(t.nanos as u64)
    })
    .unwrap_or(0)
}

fn duration_nanos(d: Option<prost_types::Duration>) -> u64 {
    d.map(|d| {
        if d.seconds < 0 || d.nanos < 0 {
            0
        } else {
            (d.seconds as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(d.nanos as u64)
        }
    })
    .unwrap_or(0)
}

/// Converts a decoded `Batch`. Ids of the wrong width are errors (the whole request is refused,
/// as Jaeger does).
pub fn batch_from_proto(batch: api_v2::Batch) -> Result<JaegerBatch, ProtoError> {
    let mut spans = Vec::with_capacity(batch.spans.len());
    for s in batch.spans {
        let trace = trace_id(&s.trace_id, &s.operation_name)?;
        let id = span_id(&s.span_id, &s.operation_name)?;
        let mut references = Vec::with_capacity(s.references.len());
        for r in s.references {
            references.push(JaegerRef {
                ref_type: if r.ref_type == api_v2::SpanRefType::FollowsFrom as i32 {
                    RefType::FollowsFrom
                } else {
                    RefType::ChildOf
                },
                trace_id: trace_id(&r.trace_id, &s.operation_name)?,
                span_id: span_id(&r.span_id, &s.operation_name)?,
            });
        }
        spans.push(JaegerSpan {
            trace_id: trace,
            span_id: id,
            parent_span_id: [0; 8],
            operation_name: s.operation_name,
            references,
            flags: s.flags,
            start_unix_nano: timestamp_nanos(s.start_time),
            duration_nano: duration_nanos(s.duration),
            tags: tags(s.tags),
            logs: s
                .logs
                .into_iter()
                .map(|l| JaegerLog {
                    timestamp_unix_nano: timestamp_nanos(l.timestamp),
                    fields: tags(l.fields),
                })
                .collect(),
            process: s.process.map(process),
        });
    }
    Ok(JaegerBatch {
        process: batch.process.map(process),
        spans,
    })
}
