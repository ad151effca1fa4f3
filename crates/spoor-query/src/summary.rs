//! Trace summaries: what a search result row shows, without the spans. The one place both the
//! api_v3 HTTP (`/api/v3/trace-summaries`) and gRPC (`FindTraceSummaries`) answers come from.

use std::collections::{BTreeMap, HashSet};

use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{Span, SpanId, TraceId, service_name};
use spoor_storage::Trace;

/// One trace's summary, as api_v3's `TraceSummary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// Service and name of the root span: the earliest span whose parent is unset or absent.
    pub root_service_name: String,
    pub root_operation_name: String,
    pub min_start_time_unix_nano: u64,
    pub max_end_time_unix_nano: u64,
    pub span_count: usize,
    /// Spans whose OTLP status is `ERROR`.
    pub error_span_count: usize,
    /// Spans whose parent is set but absent from the trace.
    pub orphan_span_count: usize,
    /// One entry per service, sorted by name.
    pub services: Vec<ServiceSummary>,
}

/// Per-service counts of a [`TraceSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    pub name: String,
    pub span_count: usize,
    pub error_span_count: usize,
}

fn is_error(span: &Span) -> bool {
    span.status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}

impl TraceSummary {
    /// Summarises `trace` (as stored; callers de-duplicate first, as [`crate::QueryService`] does).
    pub fn of(trace: &Trace) -> TraceSummary {
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
        // Some(true): parent in the trace; Some(false): parent set but absent; None: no parent.
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
        TraceSummary {
            trace_id: trace.id,
            root_service_name: root.map(|(svc, _)| svc.to_string()).unwrap_or_default(),
            root_operation_name: root.map(|(_, s)| s.name.clone()).unwrap_or_default(),
            min_start_time_unix_nano: min_start.min(max_end),
            max_end_time_unix_nano: max_end,
            span_count: spans.len(),
            error_span_count: errors,
            orphan_span_count: orphans,
            services: services
                .into_iter()
                .map(|(name, (span_count, error_span_count))| ServiceSummary {
                    name: name.to_string(),
                    span_count,
                    error_span_count,
                })
                .collect(),
        }
    }
}
