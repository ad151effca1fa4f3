//! `GET /analytics/v1/dependencies?service=&operation=&start=&end=`: the Jaeger UI's Deep
//! Dependency Graph, in the shape the UI reads:
//! `{"dependencies":[{"path":[{"service":…,"operation":…},…],"attributes":[{"key":"exemplar_trace_id","value":…}]}]}`.
//! `start`/`end` are unix milliseconds; 0 or absent means the last [`DEFAULT_LOOKBACK_MS`].

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use spoor_query::{DdgPath, Focal, PathElem};
use spoor_storage::TimeRange;

use super::ApiState;
use super::params::{Params, now_nanos};
use super::respond::json;
use crate::error::ApiError;

/// Window searched when the UI sends `start=0&end=0`, as it does: one week (Jaeger UI's
/// dependency lookback).
pub const DEFAULT_LOOKBACK_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Serialize)]
struct Attribute<'a> {
    key: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct PathJson<'a> {
    path: &'a [PathElem],
    attributes: Vec<Attribute<'a>>,
}

#[derive(Serialize)]
struct Payload<'a> {
    dependencies: Vec<PathJson<'a>>,
}

fn path_json(p: &DdgPath) -> PathJson<'_> {
    PathJson {
        path: &p.path,
        attributes: p
            .exemplar_trace_ids
            .iter()
            .map(|id| Attribute {
                key: "exemplar_trace_id",
                value: id,
            })
            .collect(),
    }
}

pub async fn deep_dependencies(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let service = params
        .get("service")
        .ok_or_else(|| ApiError::bad_request("parameter 'service' is required"))?;
    let end_ms = match params.u64("end")? {
        Some(0) | None => now_nanos() / 1_000_000,
        Some(ms) => ms,
    };
    let start_ms = match params.u64("start")? {
        Some(0) | None => end_ms.saturating_sub(DEFAULT_LOOKBACK_MS),
        Some(ms) => ms,
    };
    if start_ms > end_ms {
        return Err(ApiError::bad_request(
            "parameter 'start' must not be after 'end'",
        ));
    }
    let focal = Focal {
        service: service.to_string(),
        operation: params.get("operation").map(str::to_string),
    };
    let window = TimeRange {
        start: start_ms.saturating_mul(1_000_000),
        end: end_ms.saturating_mul(1_000_000),
    };
    let paths = state.query.deep_dependencies(&focal, window).await?;
    Ok(json(
        &Payload {
            dependencies: paths.iter().map(path_json).collect(),
        },
        params.pretty(),
    ))
}
