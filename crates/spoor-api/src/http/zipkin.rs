//! Zipkin's query API v2 (`GET /api/v2/*`, as in zipkin-api's `zipkin2-api.yaml`), served on
//! the Zipkin receiver's port so Grafana's Zipkin data source and the Zipkin UI read from
//! Spoor where they write to it.
//!
//! Answers are Zipkin v2 JSON (spans translated from OTLP by `spoor_query::zipkin`); errors are
//! plain text, 400 for a bad parameter and 404 for an unknown trace, as Zipkin answers.
//! Times are as Zipkin's: `endTs` and `lookback` in milliseconds (defaults: now, one day),
//! `minDuration`/`maxDuration` in microseconds.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use serde_json::Value;
use spoor_model::TraceId;
use spoor_query::zipkin::{AnnotationQuery, ZipkinQuery, ZipkinSpan, span_json};
use spoor_query::{MAX_SEARCH_LIMIT, QueryError, QueryService};
use spoor_storage::DependencyLink;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

use super::params::{Params, now_nanos, parse_trace_id};
use super::respond::json;
use crate::error::ApiError;

/// Zipkin's default `lookback` (`QUERY_LOOKBACK`): one day, in milliseconds.
pub const DEFAULT_LOOKBACK_MS: u64 = 86_400_000;
/// Zipkin's default `limit` of `/api/v2/traces`.
pub const DEFAULT_LIMIT: usize = 10;

/// The Zipkin read routes, to be merged into the Zipkin receiver's router. Every answer is
/// counted in `spoor_zipkin_query_requests_total{outcome}` (`ok`, `invalid`, `not_found`,
/// `failed`).
pub fn zipkin_router(query: QueryService, telemetry: &Telemetry) -> Router {
    let requests = Family::<Vec<(String, String)>, Counter>::default();
    telemetry.register(
        "zipkin_query_requests",
        "Zipkin API v2 GET requests by outcome (ok, invalid, not_found, failed)",
        requests.clone(),
    );
    Router::new()
        .route("/api/v2/services", get(services))
        .route("/api/v2/spans", get(span_names))
        .route("/api/v2/remoteServices", get(remote_services))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/trace/{id}", get(trace))
        .route("/api/v2/traceMany", get(trace_many))
        .route("/api/v2/dependencies", get(dependencies))
        .route("/api/v2/autocompleteKeys", get(autocomplete_keys))
        .route("/api/v2/autocompleteValues", get(autocomplete_values))
        .with_state(query)
        .layer(map_response_with_state(requests, count))
}

async fn count(
    State(requests): State<Family<Vec<(String, String)>, Counter>>,
    response: Response,
) -> Response {
    let status = response.status();
    let outcome = if status.is_success() {
        "ok"
    } else if status == http::StatusCode::NOT_FOUND {
        "not_found"
    } else if status.is_client_error() {
        "invalid"
    } else {
        "failed"
    };
    requests
        .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
        .inc();
    response
}

/// A failure answered as Zipkin does: the status and the message as plain text.
#[derive(Debug)]
pub struct ZipkinError(ApiError);

impl From<ApiError> for ZipkinError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<QueryError> for ZipkinError {
    fn from(e: QueryError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ZipkinError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::warn!(error = %self.0.message, "zipkin query failed");
        }
        let mut response = (status, format!("{}\n", self.0.message)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

type Answer = Result<Response, ZipkinError>;

fn bad(message: impl Into<String>) -> ZipkinError {
    ZipkinError(ApiError::bad_request(message))
}

/// A parameter Zipkin treats as absent when empty.
fn text<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.get(key).map(str::trim).filter(|s| !s.is_empty())
}

fn required<'a>(params: &'a Params, key: &str) -> Result<&'a str, ZipkinError> {
    text(params, key).ok_or_else(|| bad(format!("parameter '{key}' is required")))
}

/// `endTs` and `lookback` (milliseconds); `endTs` defaults to now, `lookback` to one day.
fn window(params: &Params) -> Result<(u64, u64), ZipkinError> {
    let end_ts = params.u64("endTs")?.unwrap_or(now_nanos() / 1_000_000);
    if end_ts == 0 {
        return Err(bad("parameter 'endTs' must be greater than 0"));
    }
    let lookback = params.u64("lookback")?.unwrap_or(DEFAULT_LOOKBACK_MS);
    Ok((end_ts, lookback))
}

fn spans_json(spans: &[ZipkinSpan]) -> Value {
    Value::Array(spans.iter().map(span_json).collect())
}

async fn services(State(query): State<QueryService>) -> Answer {
    Ok(json(&query.zipkin_services().await?, false))
}

async fn span_names(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let service = required(&params, "serviceName")?;
    Ok(json(&query.zipkin_span_names(service).await?, false))
}

async fn remote_services(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let service = required(&params, "serviceName")?;
    let (end_ts, lookback) = window(&params)?;
    Ok(json(
        &query
            .zipkin_remote_services(service, end_ts, lookback)
            .await?,
        false,
    ))
}

/// Zipkin's `/api/v2/traces` parameters.
fn zipkin_query(params: &Params) -> Result<ZipkinQuery, ZipkinError> {
    let (end_ts, lookback) = window(params)?;
    let min_duration = params.u64("minDuration")?;
    let max_duration = params.u64("maxDuration")?;
    if max_duration.is_some() && min_duration.is_none() {
        return Err(bad("minDuration is required when specifying maxDuration"));
    }
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > max
    {
        return Err(bad(format!(
            "minDuration {min} must not be greater than maxDuration {max}"
        )));
    }
    let limit = match params.u64("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(bad("parameter 'limit' must be greater than 0")),
        Some(n) => usize::try_from(n)
            .unwrap_or(MAX_SEARCH_LIMIT)
            .min(MAX_SEARCH_LIMIT),
    };
    let annotations = AnnotationQuery::parse(params.get("annotationQuery").unwrap_or(""))
        .map_err(|e| bad(e.to_string()))?;
    Ok(ZipkinQuery {
        service: text(params, "serviceName").map(str::to_string),
        remote_service: text(params, "remoteServiceName").map(str::to_string),
        // The Zipkin UI's "all" means any span name.
        span_name: text(params, "spanName")
            .filter(|n| *n != "all")
            .map(str::to_string),
        annotations,
        min_duration,
        max_duration,
        end_ts,
        lookback,
        limit,
    })
}

async fn traces(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let q = zipkin_query(&params)?;
    let traces = query.zipkin_traces(&q).await?;
    let body: Vec<Value> = traces.iter().map(|t| spans_json(t)).collect();
    Ok(json(&body, false))
}

/// A Zipkin trace id: 1 to 32 hex digits (a 64-bit id is the low half).
fn zipkin_trace_id(s: &str) -> Result<TraceId, ZipkinError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "malformed trace id {s:?}: expected 16 or 32 hex digits"
        )));
    }
    Ok(parse_trace_id(s)?)
}

async fn trace(State(query): State<QueryService>, Path(id): Path<String>) -> Answer {
    let id = zipkin_trace_id(&id)?;
    let trace = query.trace(id, None).await?;
    Ok(json(
        &spans_json(&spoor_query::zipkin::from_trace(&trace)),
        false,
    ))
}

async fn trace_many(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let list = required(&params, "traceIds")?;
    let ids = list
        .split(',')
        .map(zipkin_trace_id)
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > MAX_SEARCH_LIMIT {
        return Err(bad(format!(
            "too many trace ids: {} (at most {MAX_SEARCH_LIMIT})",
            ids.len()
        )));
    }
    let traces = query.traces(&ids).await?;
    let body: Vec<Value> = traces
        .iter()
        .map(|t| spans_json(&spoor_query::zipkin::from_trace(t)))
        .collect();
    Ok(json(&body, false))
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    parent: String,
    child: String,
    call_count: u64,
}

async fn dependencies(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let (end_ts, lookback) = window(&params)?;
    let links = query
        .dependencies(
            end_ts.saturating_mul(1_000_000),
            lookback.saturating_mul(1_000_000),
        )
        .await?;
    // Zipkin's names are lower-case; links that only differed in case are summed.
    let mut merged: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for DependencyLink {
        parent,
        child,
        call_count,
    } in links
    {
        *merged
            .entry((parent.to_lowercase(), child.to_lowercase()))
            .or_default() += call_count;
    }
    let body: Vec<Link> = merged
        .into_iter()
        .map(|((parent, child), call_count)| Link {
            parent,
            child,
            call_count,
        })
        .collect();
    Ok(json(&body, false))
}

async fn autocomplete_keys(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let (end_ts, lookback) = window(&params)?;
    Ok(json(&query.zipkin_tag_keys(end_ts, lookback).await?, false))
}

async fn autocomplete_values(State(query): State<QueryService>, RawQuery(raw): RawQuery) -> Answer {
    let params = Params::parse(raw.as_deref());
    let key = required(&params, "key")?;
    let (end_ts, lookback) = window(&params)?;
    Ok(json(
        &query.zipkin_tag_values(key, end_ts, lookback).await?,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zipkin_search_parameters() {
        let p = Params::parse(Some(
            "serviceName=front&spanName=all&annotationQuery=error%20and%20http.method%3DGET&minDuration=10&endTs=5000&lookback=1000&limit=3",
        ));
        let q = zipkin_query(&p).expect("valid");
        assert_eq!(q.service.as_deref(), Some("front"));
        assert_eq!(q.span_name, None);
        assert_eq!(q.annotations.0.len(), 2);
        assert_eq!((q.end_ts, q.lookback, q.limit), (5000, 1000, 3));
        assert_eq!(q.min_duration, Some(10));
        for bad in [
            "maxDuration=5",
            "minDuration=6&maxDuration=5",
            "limit=0",
            "limit=x",
            "endTs=-1",
            "annotationQuery=%3Dx",
        ] {
            assert!(zipkin_query(&Params::parse(Some(bad))).is_err(), "{bad}");
        }
        let huge = zipkin_query(&Params::parse(Some("limit=99999999999"))).expect("capped");
        assert_eq!(huge.limit, MAX_SEARCH_LIMIT);
    }

    #[test]
    fn zipkin_trace_ids() {
        assert!(zipkin_trace_id("463ac35c9f6413ad").is_ok());
        assert!(zipkin_trace_id("463ac35c9f6413ad48485a3953bb6124").is_ok());
        for bad in ["", "xyz", "463ac35c9f6413ad48485a3953bb61241", "0000"] {
            assert!(zipkin_trace_id(bad).is_err(), "{bad}");
        }
    }
}
