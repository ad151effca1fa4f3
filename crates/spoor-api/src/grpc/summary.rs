//! api_v3 `TraceSummary`: what a search result row shows, without the spans.

use std::collections::{BTreeMap, HashSet};

use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{Span, SpanId, service_name};
use spoor_storage::Trace;

use super::proto::api_v3 as pb;

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}

/// The root is the earliest span whose parent is absent from the trace (or unset); an orphan is a
/// span with a parent that is set but absent. Services are sorted by name.
pub fn summary(trace: &Trace) -> pb::TraceSummary {
    let spans: Vec<(&str, &Span)> = trace
        .resource_spans
        .iter()
        .flat_map(|rs| {
            let service = service_name(rs.resource.as_ref());
            rs.scope_spans
                .iter()
                .flat_map(|ss| ss.spans.iter())
                .map(move |span| (service, span))
        })
        .collect();
    let ids: HashSet<SpanId> = spans
        .iter()
        .filter_map(|(_, s)| SpanId::from_bytes(&s.span_id).ok())
        .collect();
    let parent_in_trace = |s: &Span| {
        SpanId::from_bytes(&s.parent_span_id)
            .ok()
            .filter(|p| !p.is_zero())
            .map(|p| ids.contains(&p))
    };
    let root = spans
        .iter()
        .filter(|(_, s)| parent_in_trace(s) != Some(true))
        .min_by_key(|(_, s)| s.start_time_unix_nano);
    let mut services: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut min_start, mut max_end, mut errors, mut orphans) = (u64::MAX, 0u64, 0, 0);
    for (service, span) in &spans {
        let entry = services.entry(service).or_default();
        entry.0 += 1;
        if is_error(span) {
            entry.1 += 1;
            errors += 1;
        }
        if parent_in_trace(span) == Some(false) {
            orphans += 1;
        }
        min_start = min_start.min(span.start_time_unix_nano);
        max_end = max_end.max(span.end_time_unix_nano);
    }
    pb::TraceSummary {
        trace_id: trace.id.to_hex(),
        root_service_name: root.map(|(svc, _)| svc.to_string()).unwrap_or_default(),
        root_operation_name: root.map(|(_, s)| s.name.clone()).unwrap_or_default(),
        min_start_time_unix_nano: min_start.min(max_end),
        max_end_time_unix_nano: max_end,
        span_count: count(spans.len()),
        error_span_count: count(errors),
        orphan_span_count: count(orphans),
        services: services
            .into_iter()
            .map(|(name, (spans, errors))| pb::ServiceSummary {
                name: name.to_string(),
                span_count: count(spans),
                error_span_count: count(errors),
            })
            .collect(),
    }
}
