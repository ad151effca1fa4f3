//! Jaeger's api_v3 over HTTP (`/api/v3/*`): OTLP JSON traces, JSON services and operations.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use spoor_model::otlp_trace::status::StatusCode as OtlpStatus;
use spoor_model::{ResourceSpans, SpanId, SpanRecord};
use spoor_storage::{OperationQuery, TimeRange, Trace, TraceQuery};

use super::ApiState;
use super::params::{DEFAULT_LIMIT, MAX_LIMIT, Params, now_nanos, parse_trace_id};
use crate::duration::parse_go_duration;
use crate::error::ApiError;

/// api_v3 errors: `{"error":{"httpCode":N,"message":"..."}}`.
pub struct V3Error(ApiError);

impl From<ApiError> for V3Error {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<spoor_query::QueryError> for V3Error {
    fn from(e: spoor_query::QueryError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body =
            serde_json::json!({"error": {"httpCode": status.as_u16(), "message": self.0.message}});
        (status, Json(body)).into_response()
    }
}

pub async fn services(State(state): State<ApiState>) -> Result<Response, V3Error> {
    let services = state.query.services().await?;
    Ok(Json(serde_json::json!({ "services": services })).into_response())
}

pub async fn operations(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let service = params
        .get("service")
        .ok_or_else(|| ApiError::bad_request("parameter 'service' is required"))?;
    let ops = state
        .query
        .operations(&OperationQuery {
            service: service.to_string(),
            span_kind: params
                .get("span_kind")
                .or(params.get("spanKind"))
                .map(str::to_string),
        })
        .await?;
    let operations: Vec<serde_json::Value> = ops
        .into_iter()
        .map(|op| serde_json::json!({"name": op.name, "spanKind": op.span_kind}))
        .collect();
    Ok(Json(serde_json::json!({ "operations": operations })).into_response())
}

fn otlp_result(traces: &[Trace]) -> Response {
    let resource_spans: Vec<&ResourceSpans> = traces
        .iter()
        .flat_map(|t| t.resource_spans.iter())
        .collect();
    let json = serde_json::json!({"result": {"resourceSpans": resource_spans}});
    Json(json).into_response()
}

fn rfc3339_nanos(params: &Params, key: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(key)
        .map(|v| {
            humantime::parse_rfc3339_weak(v)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as u64)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("parameter {key:?} must be RFC 3339, got {v:?}"))
                })
        })
        .transpose()
}

pub async fn trace(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let id = parse_trace_id(&id)?;
    let params = Params::parse(raw.as_deref());
    let window = match (
        rfc3339_nanos(&params, "start_time")?,
        rfc3339_nanos(&params, "end_time")?,
    ) {
        (Some(start), Some(end)) => Some(TimeRange { start, end }),
        _ => None,
    };
    let trace = state.query.trace(id, window).await?;
    Ok(otlp_result(std::slice::from_ref(&trace)))
}

/// `query.*` parameters of api_v3's `TraceQueryParameters`.
fn v3_query(params: &Params) -> Result<TraceQuery, ApiError> {
    let service = params
        .get("query.service_name")
        .ok_or_else(|| ApiError::bad_request("parameter 'query.service_name' is required"))?;
    let end = rfc3339_nanos(params, "query.start_time_max")?.unwrap_or_else(now_nanos);
    let start = rfc3339_nanos(params, "query.start_time_min")?
        .unwrap_or(end.saturating_sub(2 * 24 * 3600 * 1_000_000_000));
    let mut attributes = Vec::new();
    if let Some(json) = params.get("query.attributes") {
        let map: BTreeMap<String, String> = serde_json::from_str(json)
            .map_err(|e| ApiError::bad_request(format!("malformed 'query.attributes': {e}")))?;
        attributes.extend(map);
    }
    for (key, value) in params.prefixed("query.attributes[") {
        if let Some(key) = key.strip_suffix(']') {
            attributes.push((key.to_string(), value.to_string()));
        }
    }
    let duration = |key: &str| {
        params
            .get(key)
            .map(|v| parse_go_duration(v).map_err(|e| ApiError::bad_request(format!("{key}: {e}"))))
            .transpose()
    };
    let limit = match params
        .u64("query.search_depth")?
        .or(params.u64("query.num_traces")?)
    {
        Some(0) | None => DEFAULT_LIMIT,
        Some(n) => (n as usize).min(MAX_LIMIT),
    };
    Ok(TraceQuery {
        service: Some(service.to_string()),
        operation: params.get("query.operation_name").map(str::to_string),
        attributes,
        start_min: Some(start),
        start_max: Some(end),
        duration_min: duration("query.duration_min")?,
        duration_max: duration("query.duration_max")?,
        limit,
    })
}

pub async fn find_traces(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let traces = state.query.find_traces(&v3_query(&params)?).await?;
    Ok(otlp_result(&traces))
}

pub async fn trace_summaries(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let traces = state.query.find_traces(&v3_query(&params)?).await?;
    let summaries: Vec<serde_json::Value> = traces.iter().map(summary).collect();
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "summaries": summaries })),
    )
        .into_response())
}

/// Root span (no parent in the trace), time range, span and error counts per service.
fn summary(trace: &Trace) -> serde_json::Value {
    let records = SpanRecord::flatten(trace.resource_spans.clone());
    let ids: std::collections::HashSet<SpanId> = records
        .iter()
        .filter_map(|r| SpanId::from_bytes(&r.span.span_id).ok())
        .collect();
    let root = records
        .iter()
        .filter(|r| {
            SpanId::from_bytes(&r.span.parent_span_id)
                .map(|p| p.is_zero() || !ids.contains(&p))
                .unwrap_or(true)
        })
        .min_by_key(|r| r.span.start_time_unix_nano);
    let mut services: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut min_start, mut max_end, mut errors) = (u64::MAX, 0u64, 0u64);
    for r in &records {
        let is_error = r
            .span
            .status
            .as_ref()
            .is_some_and(|s| s.code == OtlpStatus::Error as i32);
        let entry = services.entry(r.service().to_string()).or_default();
        entry.0 += 1;
        if is_error {
            entry.1 += 1;
            errors += 1;
        }
        min_start = min_start.min(r.span.start_time_unix_nano);
        max_end = max_end.max(r.span.end_time_unix_nano);
    }
    serde_json::json!({
        "traceId": trace.id.to_hex(),
        "rootServiceName": root.map(|r| r.service().to_string()).unwrap_or_default(),
        "rootOperationName": root.map(|r| r.span.name.clone()).unwrap_or_default(),
        "minStartTimeUnixNano": min_start.min(max_end).to_string(),
        "maxEndTimeUnixNano": max_end.to_string(),
        "spanCount": records.len(),
        "errorSpanCount": errors,
        "services": services.into_iter().map(|(name, (spans, errs))| serde_json::json!({
            "name": name, "spanCount": spans, "errorSpanCount": errs
        })).collect::<Vec<_>>(),
    })
}
