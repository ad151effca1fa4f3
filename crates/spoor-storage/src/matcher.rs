use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{Span, SpanRecord, attr, service_name, span_kind_name};

use crate::TraceQuery;

/// The value of a tag that Jaeger derives from OTLP fields rather than attributes, so searches
/// such as `error=true` or `span.kind=server` work as they do against Jaeger.
pub fn synthetic_tag(record: &SpanRecord, key: &str) -> Option<String> {
    synthetic_tag_parts(record.scope.as_ref(), &record.span, key)
}

fn synthetic_tag_parts(
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

/// Decides whether one span satisfies a [`TraceQuery`]. Every backend uses it (directly or as
/// the final filter after its own pruning) so search semantics are identical everywhere.
#[derive(Debug, Clone)]
pub struct SpanMatcher<'q> {
    query: &'q TraceQuery,
}

impl<'q> SpanMatcher<'q> {
    pub fn new(query: &'q TraceQuery) -> Self {
        Self { query }
    }

    /// True when the span satisfies every condition.
    pub fn matches(&self, record: &SpanRecord) -> bool {
        self.matches_parts(
            record.resource.as_ref(),
            record.scope.as_ref(),
            &record.span,
        )
    }

    /// [`SpanMatcher::matches`] for a span whose resource and scope are held apart (as stores
    /// that de-duplicate resources keep them).
    pub fn matches_parts(
        &self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
    ) -> bool {
        let q = self.query;
        if let Some(service) = q.service.as_deref().filter(|s| !s.is_empty())
            && service_name(resource) != service
        {
            return false;
        }
        if let Some(op) = q.operation.as_deref().filter(|s| !s.is_empty())
            && span.name != op
        {
            return false;
        }
        let start = span.start_time_unix_nano;
        if q.start_min.is_some_and(|min| start < min) || q.start_max.is_some_and(|max| start > max)
        {
            return false;
        }
        let duration = span.end_time_unix_nano.saturating_sub(start);
        if q.duration_min.is_some_and(|min| duration < min)
            || q.duration_max.is_some_and(|max| duration > max)
        {
            return false;
        }
        q.attributes
            .iter()
            .all(|(key, value)| Self::has_tag_parts(resource, scope, span, key, value))
    }

    /// True when the span carries `key` with string form `value` in its attributes, its
    /// resource's, its scope's, one of its events' or links', or as a synthetic tag.
    pub fn has_tag(record: &SpanRecord, key: &str, value: &str) -> bool {
        Self::has_tag_parts(
            record.resource.as_ref(),
            record.scope.as_ref(),
            &record.span,
            key,
            value,
        )
    }

    fn has_tag_parts(
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        span: &Span,
        key: &str,
        value: &str,
    ) -> bool {
        let matches_in = |attrs: &[KeyValue]| {
            attrs
                .iter()
                .any(|kv| kv.key == key && attr::value_to_string(kv.value.as_ref()) == value)
        };
        matches_in(&span.attributes)
            || resource.is_some_and(|r| matches_in(&r.attributes))
            || scope.is_some_and(|s| matches_in(&s.attributes))
            || span.events.iter().any(|e| matches_in(&e.attributes))
            || span.links.iter().any(|l| matches_in(&l.attributes))
            || synthetic_tag_parts(scope, span, key).is_some_and(|v| v == value)
    }
}
