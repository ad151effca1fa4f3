//! Jaeger's Monitor (SPM) API: `GET /api/metrics/{latencies,calls,errors,minstep}`, answered
//! from Spoor's own RED history ([`spoor_query::monitor::MonitorStore`]) in Jaeger's
//! `MetricFamily` JSON.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use spoor_query::monitor::{Measure, MonitorQuery, MonitorStore};

use super::params::{Params, now_nanos};
use super::respond::json;
use crate::error::ApiError;

/// Jaeger's defaults: the last hour, a point every 5 s, rates over 10 minutes.
const DEFAULT_LOOKBACK_MS: u64 = 3_600_000;
const DEFAULT_STEP_MS: u64 = 5_000;
const DEFAULT_RATE_PER_MS: u64 = 600_000;
/// Most points one series may have in an answer.
const MAX_POINTS: u64 = 10_000;

type Monitor = Option<Arc<MonitorStore>>;

/// The routes, on their own state (the store, or none: every route answers 501).
pub fn routes<S>(monitor: Monitor) -> Router<S> {
    Router::new()
        .route("/api/metrics/latencies", get(latencies))
        .route("/api/metrics/calls", get(calls))
        .route("/api/metrics/errors", get(errors))
        .route("/api/metrics/minstep", get(minstep))
        .with_state(monitor)
}

fn store(monitor: &Monitor) -> Result<&MonitorStore, ApiError> {
    monitor.as_deref().ok_or_else(|| ApiError {
        kind: spoor_model::ErrorKind::Unavailable,
        message: "metrics querying is currently disabled".into(),
    })
}

/// Parses Jaeger's parameters: `service` (repeatable, required), `groupByOperation`,
/// `spanKind` (repeatable, default server), `endTs`, `lookback`, `step`, `ratePer` (ms).
fn parse(params: &Params) -> Result<MonitorQuery, ApiError> {
    let services: Vec<String> = params.all("service").map(String::from).collect();
    if services.is_empty() {
        return Err(ApiError::bad_request(
            "please provide at least one service name",
        ));
    }
    let mut span_kinds = Vec::new();
    for k in params.all("spanKind") {
        let kind = match k.to_ascii_lowercase().as_str() {
            "unspecified" => "SPAN_KIND_UNSPECIFIED",
            "internal" => "SPAN_KIND_INTERNAL",
            "server" => "SPAN_KIND_SERVER",
            "client" => "SPAN_KIND_CLIENT",
            "producer" => "SPAN_KIND_PRODUCER",
            "consumer" => "SPAN_KIND_CONSUMER",
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unsupported span kind: {k:?}; expected unspecified, internal, server, client, producer or consumer"
                )));
            }
        };
        span_kinds.push(kind.to_string());
    }
    if span_kinds.is_empty() {
        span_kinds.push("SPAN_KIND_SERVER".into());
    }
    let positive = |key: &str, default: u64| -> Result<u64, ApiError> {
        match params.u64(key)? {
            Some(0) => Err(ApiError::bad_request(format!(
                "parameter {key:?} must be greater than 0"
            ))),
            Some(v) => Ok(v),
            None => Ok(default),
        }
    };
    let end_ms = params.u64("endTs")?.unwrap_or(now_nanos() / 1_000_000);
    let lookback_ms = positive("lookback", DEFAULT_LOOKBACK_MS)?;
    let step_ms = positive("step", DEFAULT_STEP_MS)?;
    let rate_per_ms = positive("ratePer", DEFAULT_RATE_PER_MS)?;
    if lookback_ms / step_ms > MAX_POINTS {
        return Err(ApiError::bad_request(format!(
            "lookback/step asks for {} points; at most {MAX_POINTS}",
            lookback_ms / step_ms
        )));
    }
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX / 4);
    Ok(MonitorQuery {
        // With tenancy on, the request's tenant's series only.
        tenant: spoor_receivers::tenant::current().map(|s| s.tenant.to_string()),
        services,
        span_kinds,
        group_by_operation: params.flag(&["groupByOperation"])?.unwrap_or(false),
        end_ms: to_i64(end_ms),
        lookback_ms: to_i64(lookback_ms),
        step_ms: to_i64(step_ms),
        rate_per_ms: to_i64(rate_per_ms),
    })
}

fn answer(
    monitor: &Monitor,
    raw: Option<String>,
    measure: impl FnOnce(&Params) -> Result<Measure, ApiError>,
) -> Result<Response, ApiError> {
    let store = store(monitor)?;
    let params = Params::parse(raw.as_deref());
    let query = parse(&params)?;
    let measure = measure(&params)?;
    Ok(json(&store.query(&query, measure), params.pretty()))
}

async fn latencies(
    State(monitor): State<Monitor>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(&monitor, raw, |params| {
        let q = params
            .get("quantile")
            .ok_or_else(|| ApiError::bad_request("please provide a quantile between (0, 1]"))?;
        match q.parse::<f64>() {
            Ok(q) if q > 0.0 && q <= 1.0 => Ok(Measure::Latencies(q)),
            _ => Err(ApiError::bad_request(format!(
                "quantile must be a number in (0, 1], got {q:?}"
            ))),
        }
    })
}

async fn calls(
    State(monitor): State<Monitor>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(&monitor, raw, |_| Ok(Measure::Calls))
}

async fn errors(
    State(monitor): State<Monitor>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(&monitor, raw, |_| Ok(Measure::Errors))
}

#[derive(Serialize)]
struct MinStep {
    data: u64,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<()>,
}

/// `{"data": <ms>}` in Jaeger's envelope: the snapshot step.
async fn minstep(
    State(monitor): State<Monitor>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let store = store(&monitor)?;
    let params = Params::parse(raw.as_deref());
    let data = u64::try_from(store.step().as_millis()).unwrap_or(u64::MAX);
    Ok(json(
        &MinStep {
            data,
            total: 0,
            limit: 0,
            offset: 0,
            errors: None,
        },
        params.pretty(),
    ))
}
