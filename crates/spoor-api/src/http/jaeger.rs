//! The Jaeger query service's legacy JSON API (`/api/*`), as the Jaeger UI and Grafana's
//! Jaeger data source call it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use spoor_model::otlp_json::decode_json_request;
use spoor_model::{SpanRecord, TraceId};
use spoor_query::jaeger;
use spoor_storage::{OperationQuery, TimeRange, Trace};

use super::ApiState;
use super::params::{Params, now_nanos, parse_trace_id, trace_ids, trace_query};
use crate::error::ApiError;

/// Jaeger's default dependency window: one day.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: u64 = 24 * 3600 * 1000;

/// Jaeger's response envelope. Like Jaeger, `total` is set for services and operations only.
#[derive(Serialize)]
struct Envelope<T: Serialize> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<()>>,
}

fn envelope<T: Serialize>(data: T, total: usize) -> Response {
    Json(Envelope {
        data,
        total,
        limit: 0,
        offset: 0,
        errors: None,
    })
    .into_response()
}

pub async fn services(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let services = state.query.services().await?;
    let total = services.len();
    Ok(envelope(services, total))
}

pub async fn service_operations(
    State(state): State<ApiState>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let ops = state
        .query
        .operations(&OperationQuery {
            service,
            span_kind: None,
        })
        .await?;
    let mut names: Vec<String> = ops.into_iter().map(|op| op.name).collect();
    names.dedup();
    let total = names.len();
    Ok(envelope(names, total))
}

#[derive(Serialize)]
struct OperationJson {
    name: String,
    #[serde(rename = "spanKind")]
    span_kind: String,
}

pub async fn operations(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let service = params
        .get("service")
        .ok_or_else(|| ApiError::bad_request("parameter 'service' is required"))?;
    let ops = state
        .query
        .operations(&OperationQuery {
            service: service.to_string(),
            span_kind: params.get("spanKind").map(str::to_string),
        })
        .await?;
    let data: Vec<OperationJson> = ops
        .into_iter()
        .map(|op| OperationJson {
            name: op.name,
            span_kind: op.span_kind,
        })
        .collect();
    let total = data.len();
    Ok(envelope(data, total))
}

fn to_jaeger(traces: &[Trace]) -> Vec<jaeger::Trace> {
    traces
        .iter()
        .map(|t| jaeger::Trace::from_otlp(&t.resource_spans))
        .collect()
}

pub async fn search(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let ids = trace_ids(&params)?;
    let traces = if !ids.is_empty() {
        state.query.traces(&ids).await?
    } else {
        state.query.find_traces(&trace_query(&params)?).await?
    };
    Ok(envelope(to_jaeger(&traces), 0))
}

pub async fn trace(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(&id)?;
    let params = Params::parse(raw.as_deref());
    let window = match (params.u64("start")?, params.u64("end")?) {
        (Some(start), Some(end)) => Some(TimeRange {
            start: start.saturating_mul(1000),
            end: end.saturating_mul(1000),
        }),
        _ => None,
    };
    let trace = state.query.trace(id, window).await?;
    Ok(envelope(to_jaeger(std::slice::from_ref(&trace)), 0))
}

#[derive(Serialize)]
struct DependencyJson {
    parent: String,
    child: String,
    #[serde(rename = "callCount")]
    call_count: u64,
}

pub async fn dependencies(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let end_ms = params.u64("endTs")?.unwrap_or(now_nanos() / 1_000_000);
    let lookback_ms = params
        .u64("lookback")?
        .unwrap_or(DEFAULT_DEPENDENCY_LOOKBACK_MS);
    let links = state
        .query
        .dependencies(
            end_ms.saturating_mul(1_000_000),
            lookback_ms.saturating_mul(1_000_000),
        )
        .await?;
    let data: Vec<DependencyJson> = links
        .into_iter()
        .map(|l| DependencyJson {
            parent: l.parent,
            child: l.child,
            call_count: l.call_count,
        })
        .collect();
    Ok(envelope(data, 0))
}

/// `POST /api/transform`: OTLP JSON in, Jaeger UI JSON out (one trace per trace id), nothing
/// stored.
pub async fn transform(body: Bytes) -> Result<Response, ApiError> {
    let request = decode_json_request(&body).map_err(ApiError::bad_request)?;
    let mut by_trace: BTreeMap<TraceId, Vec<SpanRecord>> = BTreeMap::new();
    let mut order = Vec::new();
    for record in SpanRecord::flatten(request.resource_spans) {
        let id = TraceId::from_bytes(&record.span.trace_id).map_err(|e| {
            ApiError::bad_request(format!(
                "span {:?}: invalid trace id: {e}",
                record.span.name
            ))
        })?;
        let entry = by_trace.entry(id).or_default();
        if entry.is_empty() {
            order.push(id);
        }
        entry.push(record);
    }
    let data: Vec<jaeger::Trace> = order
        .into_iter()
        .filter_map(|id| by_trace.remove(&id))
        .map(|records| jaeger::Trace::from_otlp(&SpanRecord::group(records)))
        .collect();
    Ok(envelope(data, 0))
}
