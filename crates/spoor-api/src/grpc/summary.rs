//! api_v3 `TraceSummary` in protobuf, from the query layer's one summary computation.

use spoor_query::TraceSummary;

use super::proto::api_v3 as pb;

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub fn to_proto(s: &TraceSummary) -> pb::TraceSummary {
    pb::TraceSummary {
        trace_id: s.trace_id.to_hex(),
        root_service_name: s.root_service_name.clone(),
        root_operation_name: s.root_operation_name.clone(),
        min_start_time_unix_nano: s.min_start_time_unix_nano,
        max_end_time_unix_nano: s.max_end_time_unix_nano,
        span_count: count(s.span_count),
        error_span_count: count(s.error_span_count),
        orphan_span_count: count(s.orphan_span_count),
        services: s
            .services
            .iter()
            .map(|svc| pb::ServiceSummary {
                name: svc.name.clone(),
                span_count: count(svc.span_count),
                error_span_count: count(svc.error_span_count),
            })
            .collect(),
    }
}
