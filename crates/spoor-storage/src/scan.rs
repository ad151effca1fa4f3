//! The scan contract: what a query may ask storage for, in storage's own neutral terms.
//!
//! A [`ScanRequest`] names a time window, a service, a span name, a duration range and
//! [`SpanPredicate`]s on the OTLP model (attributes by scope, status, kind, scope name),
//! optionally a set of trace ids and a limit. A trace answers it when **one of its spans**
//! satisfies every condition together; traces come newest first (by their earliest matching
//! span start), at most [`ScanRequest::effective_limit`].
//!
//! Storage knows no query language: no Jaeger tags (`error`, `span.kind`, …), no TraceQL, no SQL.
//! The query layer (`spoor-query`) translates its plan into a request (its pushdown) and
//! evaluates the rest of the plan over the traces returned.
//! Backends answer a request exactly (never more, never fewer traces than
//! [`ScanRequest::matches_parts`] selects, up to the limit); they may evaluate it however they
//! like (indexes, column filters), but must agree with [`ScanRequest::matches_parts`], which is
//! the reference.

use regex::Regex;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::{Span, SpanRecord, TraceId, attr, service_name};

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrScope {
    /// The span's own attributes.
    Span,
    /// Its resource's attributes.
    Resource,
    /// Its instrumentation scope's attributes.
    Scope,
    /// The attributes of any of its events.
    Event,
    /// The attributes of any of its links.
    Link,
}

impl AttrScope {
    /// Every scope.
    pub const ALL: [AttrScope; 5] = [
        AttrScope::Span,
        AttrScope::Resource,
        AttrScope::Scope,
        AttrScope::Event,
        AttrScope::Link,
    ];
}

/// How an attribute's value is tested.
#[derive(Debug, Clone)]
pub enum ValueMatch {
    /// The value's text form (`spoor_model::attr::value_to_string`) equals this.
    Text(String),
    /// The value's text form matches this regex (as given: anchor it to match whole values).
    Regex(Regex),
    /// The value is an int or a double within these inclusive bounds.
    Range { min: Option<f64>, max: Option<f64> },
}

impl PartialEq for ValueMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueMatch::Text(a), ValueMatch::Text(b)) => a == b,
            (ValueMatch::Regex(a), ValueMatch::Regex(b)) => a.as_str() == b.as_str(),
            (ValueMatch::Range { min: a, max: b }, ValueMatch::Range { min: c, max: d }) => {
                a == c && b == d
            }
            _ => false,
        }
    }
}

impl ValueMatch {
    /// True when `value` satisfies the test.
    pub fn matches(&self, value: Option<&AnyValue>) -> bool {
        match self {
            ValueMatch::Text(want) => attr::value_to_string(value) == *want,
            ValueMatch::Regex(re) => re.is_match(&attr::value_to_string(value)),
            ValueMatch::Range { min, max } => {
                let n = match value.and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::IntValue(i)) => *i as f64,
                    Some(any_value::Value::DoubleValue(d)) => *d,
                    _ => return false,
                };
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
        }
    }

    /// [`ValueMatch::matches`] for a string value.
    pub fn matches_str(&self, value: &str) -> bool {
        match self {
            ValueMatch::Text(want) => value == want,
            ValueMatch::Regex(re) => re.is_match(value),
            ValueMatch::Range { .. } => false,
        }
    }

    /// [`ValueMatch::matches`] for an int value.
    pub fn matches_int(&self, value: i64) -> bool {
        match self {
            ValueMatch::Text(want) => value.to_string() == *want,
            ValueMatch::Regex(re) => re.is_match(&value.to_string()),
            ValueMatch::Range { min, max } => {
                let n = value as f64;
                min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
            }
        }
    }
}

/// A condition on one span, in the OTLP model's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanPredicate {
    /// An attribute named `key` in one of `scopes` whose value satisfies `value`.
    Attribute {
        scopes: Vec<AttrScope>,
        key: String,
        value: ValueMatch,
    },
    /// The span's status code (OTLP number; a span without status has 0, unset).
    Status(i32),
    /// The span's kind (OTLP number).
    Kind(i32),
    /// The span's status message equals this.
    StatusMessage(String),
    /// Its instrumentation scope's name equals this.
    ScopeName(String),
    /// Its instrumentation scope's version equals this.
    ScopeVersion(String),
    /// At least one of these holds (an empty list never holds).
    AnyOf(Vec<SpanPredicate>),
}

impl SpanPredicate {
    /// `key` with text form `value` in any scope.
    pub fn text_anywhere(key: impl Into<String>, value: impl Into<String>) -> Self {
        SpanPredicate::Attribute {
            scopes: AttrScope::ALL.to_vec(),
            key: key.into(),
            value: ValueMatch::Text(value.into()),
        }
    }

    /// True when the span satisfies the predicate.
    pub fn matches_parts(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        match self {
            SpanPredicate::Attribute { scopes, key, value } => {
                let hit = |kvs: &[KeyValue]| {
                    kvs.iter()
                        .any(|kv| kv.key == *key && value.matches(kv.value.as_ref()))
                };
                scopes.iter().any(|s| match s {
                    AttrScope::Span => hit(&span.attributes),
                    AttrScope::Resource => resource.is_some_and(|r| hit(&r.attributes)),
                    AttrScope::Scope => scope.is_some_and(|sc| hit(&sc.attributes)),
                    AttrScope::Event => span.events.iter().any(|e| hit(&e.attributes)),
                    AttrScope::Link => span.links.iter().any(|l| hit(&l.attributes)),
                })
            }
            SpanPredicate::Status(code) => span.status.as_ref().map_or(0, |s| s.code) == *code,
            SpanPredicate::Kind(kind) => span.kind == *kind,
            SpanPredicate::StatusMessage(m) => {
                span.status.as_ref().map_or("", |s| s.message.as_str()) == m
            }
            SpanPredicate::ScopeName(n) => scope.map_or("", |s| s.name.as_str()) == n,
            SpanPredicate::ScopeVersion(v) => scope.map_or("", |s| s.version.as_str()) == v,
            SpanPredicate::AnyOf(any) => any.iter().any(|p| p.matches_parts(resource, scope, span)),
        }
    }

    /// Calls `f` on every attribute condition, inside [`SpanPredicate::AnyOf`] too.
    pub fn for_each_attribute(&self, f: &mut impl FnMut(&[AttrScope], &str, &ValueMatch)) {
        match self {
            SpanPredicate::Attribute { scopes, key, value } => f(scopes, key, value),
            SpanPredicate::AnyOf(any) => any.iter().for_each(|p| p.for_each_attribute(f)),
            _ => {}
        }
    }

    /// True when the predicate reads a span field (status, kind, scope) rather than attributes.
    pub fn reads_span_fields(&self) -> bool {
        match self {
            SpanPredicate::Attribute { .. } => false,
            SpanPredicate::AnyOf(any) => any.iter().any(SpanPredicate::reads_span_fields),
            _ => true,
        }
    }
}

/// A scan. Times are unix nanoseconds, durations nanoseconds; `None` means unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanRequest {
    /// Bounds on the matching span's start, inclusive.
    pub start_min: Option<u64>,
    pub start_max: Option<u64>,
    /// `service.name` of the matching span's resource (`None` or empty: any).
    pub service: Option<String>,
    /// Name of the matching span (`None` or empty: any).
    pub span_name: Option<String>,
    /// Bounds on the matching span's duration, inclusive.
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    /// Conditions the same span must satisfy, all of them.
    pub predicates: Vec<SpanPredicate>,
    /// Only these traces (`None`: any).
    pub trace_ids: Option<Vec<TraceId>>,
    /// Maximum traces returned; 0 means the default (20).
    pub limit: usize,
}

impl ScanRequest {
    /// Default number of traces when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 20;

    /// The effective limit.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit
        }
    }

    /// The service condition, if any.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref().filter(|s| !s.is_empty())
    }

    /// The span name condition, if any.
    pub fn span_name(&self) -> Option<&str> {
        self.span_name.as_deref().filter(|s| !s.is_empty())
    }

    /// True when trace `id` may answer (the trace-id set allows it).
    pub fn allows_trace(&self, id: &TraceId) -> bool {
        self.trace_ids.as_ref().is_none_or(|ids| ids.contains(id))
    }

    /// True when a span starting at `start` and lasting `duration` ns is in the request's
    /// time and duration bounds.
    pub fn in_bounds(&self, start: u64, duration: u64) -> bool {
        !(self.start_min.is_some_and(|m| start < m)
            || self.start_max.is_some_and(|m| start > m)
            || self.duration_min.is_some_and(|m| duration < m)
            || self.duration_max.is_some_and(|m| duration > m))
    }

    /// True when the span satisfies every condition but the trace-id set: the reference
    /// every backend agrees with.
    pub fn matches_parts(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        if self.service().is_some_and(|s| service_name(resource) != s)
            || self.span_name().is_some_and(|n| span.name != n)
        {
            return false;
        }
        let start = span.start_time_unix_nano;
        if !self.in_bounds(start, span.end_time_unix_nano.saturating_sub(start)) {
            return false;
        }
        self.predicates
            .iter()
            .all(|p| p.matches_parts(resource, scope, span))
    }

    /// [`ScanRequest::matches_parts`] on a span record.
    pub fn matches(&self, record: &SpanRecord) -> bool {
        self.matches_parts(
            record.resource.as_ref(),
            record.scope.as_ref(),
            &record.span,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::Status;

    fn kv(k: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn predicates_read_only_their_scopes() {
        let span = Span {
            name: "GET".into(),
            kind: 2,
            attributes: vec![kv("http.status_code", any_value::Value::IntValue(503))],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Span::default()
        };
        let resource = Resource {
            attributes: vec![kv("env", any_value::Value::StringValue("prod".into()))],
            ..Resource::default()
        };
        let m = |p: SpanPredicate| p.matches_parts(Some(&resource), None, &span);
        let attr = |scopes: &[AttrScope], key: &str, value: ValueMatch| SpanPredicate::Attribute {
            scopes: scopes.to_vec(),
            key: key.into(),
            value,
        };
        let text = |s: &str| ValueMatch::Text(s.into());
        assert!(m(attr(&[AttrScope::Span], "http.status_code", text("503"))));
        assert!(!m(attr(
            &[AttrScope::Resource],
            "http.status_code",
            text("503")
        )));
        assert!(m(attr(&[AttrScope::Resource], "env", text("prod"))));
        assert!(m(SpanPredicate::text_anywhere("env", "prod")));
        let range = |min, max| ValueMatch::Range { min, max };
        assert!(m(attr(
            &[AttrScope::Span],
            "http.status_code",
            range(Some(500.0), None)
        )));
        assert!(!m(attr(
            &[AttrScope::Span],
            "http.status_code",
            range(None, Some(499.0))
        )));
        assert!(!m(attr(&[AttrScope::Resource], "env", range(None, None))));
        let re = |s: &str| ValueMatch::Regex(Regex::new(s).expect("regex"));
        assert!(m(attr(&[AttrScope::Span], "http.status_code", re("^5..$"))));
        assert!(!m(attr(&[AttrScope::Resource], "env", re("^dev$"))));
        assert!(m(SpanPredicate::Status(2)));
        assert!(!m(SpanPredicate::Status(1)));
        assert!(m(SpanPredicate::Kind(2)));
        assert!(m(SpanPredicate::StatusMessage("boom".into())));
        assert!(!m(SpanPredicate::ScopeName("lib".into())));
        assert!(m(SpanPredicate::ScopeName(String::new())));
        assert!(m(SpanPredicate::AnyOf(vec![
            SpanPredicate::Kind(3),
            SpanPredicate::Status(2)
        ])));
        assert!(!m(SpanPredicate::AnyOf(vec![])));
    }

    #[test]
    fn a_request_needs_one_span_to_satisfy_everything() {
        let span = Span {
            name: "GET".into(),
            start_time_unix_nano: 100,
            end_time_unix_nano: 150,
            ..Span::default()
        };
        let req = |f: &dyn Fn(&mut ScanRequest)| {
            let mut r = ScanRequest::default();
            f(&mut r);
            r.matches_parts(None, None, &span)
        };
        assert!(req(&|_| {}));
        assert!(req(&|r| r.span_name = Some("GET".into())));
        assert!(!req(&|r| r.span_name = Some("POST".into())));
        assert!(req(&|r| r.duration_min = Some(50)));
        assert!(!req(&|r| r.duration_min = Some(51)));
        assert!(!req(&|r| r.start_min = Some(101)));
        assert!(req(&|r| r.start_max = Some(100)));
        assert!(!req(&|r| r.service = Some("checkout".into())));
        assert!(!req(&|r| r.predicates = vec![SpanPredicate::Status(2)]));
    }
}
