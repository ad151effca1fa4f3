//! The Jaeger query service's legacy JSON API (`/api/*`), as the Jaeger UI and Grafana's
//! Jaeger data source call it.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use spoor_model::otlp_json::decode_json_request;
use spoor_model::{SpanRecord, TraceId};
use spoor_query::jaeger;
use spoor_storage::{OperationQuery, TimeRange, Trace};

use super::ApiState;
use super::params::{Params, now_nanos, parse_trace_id, trace_ids, trace_query};
use super::respond::{json, json_chunk_stream};
use crate::error::ApiError;

/// Largest body `POST /api/transform` accepts.
pub const MAX_TRANSFORM_BODY: usize = 64 * 1024 * 1024;
/// Time a client has to send the whole `POST /api/transform` body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

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

fn envelope<T: Serialize>(data: T, total: usize, pretty: bool) -> Response {
    json(
        &Envelope {
            data,
            total,
            limit: 0,
            offset: 0,
            errors: None,
        },
        pretty,
    )
}

/// Opening and closing of the envelope around a streamed list of traces.
const TRACES_PREFIX: &str = "{\"data\":[";
const TRACES_SUFFIX: &str = "],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}";

/// Traces in the envelope: streamed in chunks of a few hundred spans, converted as the body is
/// sent (a 100k-span trace is never held as one Jaeger model or one string), or indented in
/// one piece when `pretty`.
fn traces_response(traces: Vec<Trace>, pretty: bool) -> Response {
    if pretty {
        return envelope(to_jaeger(&traces), 0, true);
    }
    json_chunk_stream(
        TRACES_PREFIX,
        jaeger::json_chunks(traces.into_iter().map(|t| t.resource_spans).collect()),
        TRACES_SUFFIX,
    )
}

pub async fn services(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pretty = Params::parse(raw.as_deref()).pretty();
    let services = state.query.services().await?;
    let total = services.len();
    Ok(envelope(services, total, pretty))
}

pub async fn service_operations(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pretty = Params::parse(raw.as_deref()).pretty();
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
    Ok(envelope(names, total, pretty))
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
    Ok(envelope(data, total, params.pretty()))
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
    Ok(traces_response(traces, params.pretty()))
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
    Ok(traces_response(vec![trace], params.pretty()))
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
    Ok(envelope(data, 0, params.pretty()))
}

/// `POST /api/transform`: OTLP JSON in, Jaeger UI JSON out (one trace per trace id), nothing
/// stored. The body must arrive within a minute and be at most [`MAX_TRANSFORM_BODY`] bytes.
pub async fn transform(RawQuery(raw): RawQuery, body: Body) -> Result<Response, ApiError> {
    let pretty = Params::parse(raw.as_deref()).pretty();
    let body = match tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(body, MAX_TRANSFORM_BODY),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return Err(if too_large {
                ApiError {
                    kind: spoor_model::ErrorKind::TooLarge,
                    message: format!("the body is larger than {MAX_TRANSFORM_BODY} bytes"),
                }
            } else {
                ApiError::bad_request("cannot read the body")
            });
        }
        Err(_) => {
            return Err(ApiError {
                kind: spoor_model::ErrorKind::InvalidInput,
                message: format!("the body did not arrive within {BODY_READ_TIMEOUT:?}"),
            });
        }
    };
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
    Ok(envelope(data, 0, pretty))
}
