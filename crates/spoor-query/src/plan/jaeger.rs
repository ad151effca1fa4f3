//! Jaeger's search form ([`TraceQuery`]) and its semantics, in one place: one span must satisfy
//! every condition; a tag matches a span, resource, scope, event or link attribute by the text
//! of its value, or one of the tags Jaeger derives from OTLP fields (`error`, `span.kind`,
//! `otel.status_code`, `otel.status_description`, `otel.scope.name`, `otel.scope.version`).
//!
//! Both the plan and storage's scan see a tag as the same neutral [`SpanPredicate`]
//! ([`tag_predicate`]), so the form's search is pushed down whole and evaluated exactly.

use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{span_kind_from_name, span_kind_name};
use spoor_storage::{ScanRequest, SpanPredicate};

use super::{CmpOp, Field, Intrinsic, Query, Scope, SpanCond, SpansetExpr, Value};

/// A Jaeger form search. Times are unix nanoseconds, durations nanoseconds; `None` means
/// unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    /// `service.name` of the matching span's resource.
    pub service: Option<String>,
    /// Name of the matching span.
    pub operation: Option<String>,
    /// Jaeger tags (key, text of the value); see [`tag_predicate`].
    pub attributes: Vec<(String, String)>,
    pub start_min: Option<u64>,
    pub start_max: Option<u64>,
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    /// Maximum traces returned; 0 means the default (20).
    pub limit: usize,
}

impl TraceQuery {
    /// Default number of traces when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = ScanRequest::DEFAULT_LIMIT;

    /// The effective limit.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit
        }
    }

    /// The scan that answers this search exactly: every condition is pushed down.
    pub fn scan_request(&self) -> ScanRequest {
        ScanRequest {
            start_min: self.start_min,
            start_max: self.start_max,
            service: self.service.clone().filter(|s| !s.is_empty()),
            span_name: self.operation.clone().filter(|s| !s.is_empty()),
            duration_min: self.duration_min,
            duration_max: self.duration_max,
            predicates: self
                .attributes
                .iter()
                .map(|(k, v)| tag_predicate(k, v))
                .collect(),
            trace_ids: None,
            limit: self.limit,
        }
    }
}

/// Jaeger's tag `key=value` in neutral terms: the attribute with that text in any scope, or
/// the span field Jaeger derives the tag from.
pub fn tag_predicate(key: &str, value: &str) -> SpanPredicate {
    let attribute = SpanPredicate::text_anywhere(key, value);
    let derived = match (key, value) {
        ("error", "true") => Some(SpanPredicate::Status(StatusCode::Error as i32)),
        ("span.kind", kind) => Some(span_kind_from_name(kind))
            .filter(|k| *k != 0 && span_kind_name(*k) == kind)
            .map(SpanPredicate::Kind),
        ("otel.status_code", "OK") => Some(SpanPredicate::Status(StatusCode::Ok as i32)),
        ("otel.status_code", "ERROR") => Some(SpanPredicate::Status(StatusCode::Error as i32)),
        ("otel.status_description", m) if !m.is_empty() => {
            Some(SpanPredicate::StatusMessage(m.to_string()))
        }
        ("otel.scope.name", n) if !n.is_empty() => Some(SpanPredicate::ScopeName(n.to_string())),
        ("otel.scope.version", v) if !v.is_empty() => {
            Some(SpanPredicate::ScopeVersion(v.to_string()))
        }
        _ => None,
    };
    match derived {
        Some(d) => SpanPredicate::AnyOf(vec![attribute, d]),
        None => attribute,
    }
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
            conds.push(SpanCond::Predicate(tag_predicate(key, value)));
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
