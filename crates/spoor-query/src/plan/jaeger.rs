//! Jaeger's search form (`TraceQuery`) as a plan: one span must satisfy every condition; tags
//! match a span, resource, scope, event or link attribute by the text of its value, or one of
//! the tags Jaeger derives from OTLP fields (`error`, `span.kind`, `otel.status_code`, …).

use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{Span, attr, span_kind_name};
use spoor_storage::TraceQuery;

use super::eval::SpanRef;
use super::{CmpOp, Field, Intrinsic, Query, Scope, SpanCond, SpansetExpr, Value};

/// The value of a tag Jaeger derives from OTLP fields rather than attributes.
pub(crate) fn synthetic_tag(
    scope: Option<&InstrumentationScope>,
    span: &Span,
    key: &str,
) -> Option<String> {
    let status = span.status.as_ref();
    let code = status.map(|s| s.code).unwrap_or(0);
    match key {
        "error" if code == StatusCode::Error as i32 => Some("true".to_string()),
        "span.kind" => Some(span_kind_name(span.kind).to_string()).filter(|s| !s.is_empty()),
        "otel.status_code" => match StatusCode::try_from(code) {
            Ok(StatusCode::Ok) => Some("OK".to_string()),
            Ok(StatusCode::Error) => Some("ERROR".to_string()),
            _ => None,
        },
        "otel.status_description" => status.map(|s| s.message.clone()).filter(|m| !m.is_empty()),
        "otel.scope.name" => scope.map(|s| s.name.clone()).filter(|n| !n.is_empty()),
        "otel.scope.version" => scope.map(|s| s.version.clone()).filter(|v| !v.is_empty()),
        _ => None,
    }
}

/// True when the span has tag `key` whose text is `value`, as Jaeger searches tags.
pub(crate) fn has_tag(s: &SpanRef<'_>, key: &str, value: &str) -> bool {
    let matches_in = |attrs: &[KeyValue]| {
        attrs
            .iter()
            .any(|kv| kv.key == key && attr::value_to_string(kv.value.as_ref()) == value)
    };
    let span = s.span;
    matches_in(&span.attributes)
        || s.resource.is_some_and(|r| matches_in(&r.attributes))
        || s.scope.is_some_and(|sc| matches_in(&sc.attributes))
        || span.events.iter().any(|e| matches_in(&e.attributes))
        || span.links.iter().any(|l| matches_in(&l.attributes))
        || synthetic_tag(s.scope, span, key).is_some_and(|v| v == value)
}

impl Query {
    /// The plan of a Jaeger form search (its limit is the caller's).
    pub fn from_trace_query(q: &TraceQuery) -> Query {
        let mut conds: Vec<SpanCond> = Vec::new();
        let cmp = |field: Field, op: CmpOp, value: Value| SpanCond::Cmp {
            field,
            op,
            value,
            regex: None,
        };
        if let Some(service) = q.service.as_deref().filter(|s| !s.is_empty()) {
            conds.push(cmp(
                Field::Attribute {
                    scope: Scope::Resource,
                    name: "service.name".into(),
                },
                CmpOp::Eq,
                Value::Str(service.into()),
            ));
        }
        if let Some(op) = q.operation.as_deref().filter(|s| !s.is_empty()) {
            conds.push(cmp(
                Field::Intrinsic(Intrinsic::Name),
                CmpOp::Eq,
                Value::Str(op.into()),
            ));
        }
        let start = Field::Intrinsic(Intrinsic::StartTime);
        if let Some(min) = q.start_min {
            conds.push(cmp(start.clone(), CmpOp::Ge, Value::Duration(min)));
        }
        if let Some(max) = q.start_max {
            conds.push(cmp(start, CmpOp::Le, Value::Duration(max)));
        }
        let duration = Field::Intrinsic(Intrinsic::Duration);
        if let Some(min) = q.duration_min {
            conds.push(cmp(duration.clone(), CmpOp::Ge, Value::Duration(min)));
        }
        if let Some(max) = q.duration_max {
            conds.push(cmp(duration, CmpOp::Le, Value::Duration(max)));
        }
        for (key, value) in &q.attributes {
            conds.push(SpanCond::JaegerTag {
                key: key.clone(),
                value: value.clone(),
            });
        }
        let cond = conds
            .into_iter()
            .reduce(|a, b| SpanCond::And(Box::new(a), Box::new(b)))
            .unwrap_or(SpanCond::Const(true));
        Query {
            expr: SpansetExpr::Filter(cond),
        }
    }
}
