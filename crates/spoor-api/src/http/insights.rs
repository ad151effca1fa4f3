//! Analytics beyond Jaeger's API, on the query port:
//! - `GET /api/analytics/compare`: regression analysis. Per operation, call count, error rate
//!   and p50/p95/p99 latency (µs) in a baseline and a current side, the most regressed first
//!   (sorted by the relative change of p95 plus the change of the error rate). The sides are
//!   two windows (`baselineStart`/`baselineEnd` and `start`/`end`, unix µs as Jaeger's
//!   `/api/traces`; by default the last hour against the hour before) or two `service.version`s
//!   (`baselineVersion` and `version`, in the same window unless baseline times are given).
//!   `service` limits it to one service's spans.
//! - `GET /api/traces/{id}/critical-path`: the trace's critical path as the Jaeger UI computes
//!   it, sections of spans with their start and end (unix µs), latest first.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use spoor_query::analytics::{CompareSide, OperationStats};
use spoor_storage::TimeRange;

use super::ApiState;
use super::params::{Params, now_nanos, parse_trace_id};
use super::respond::json;
use crate::error::ApiError;

/// The current window when `start`/`end` are absent: the last hour (µs).
const DEFAULT_WINDOW_US: u64 = 3_600 * 1_000_000;

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    data: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SideJson {
    start: u64,
    end: u64,
    version: Option<String>,
    traces: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsJson {
    calls: u64,
    errors: u64,
    error_rate: f64,
    p50: u64,
    p95: u64,
    p99: u64,
}

impl From<&OperationStats> for StatsJson {
    fn from(s: &OperationStats) -> Self {
        Self {
            calls: s.calls,
            errors: s.errors,
            error_rate: s.error_rate(),
            p50: s.p50 / 1_000,
            p95: s.p95 / 1_000,
            p99: s.p99 / 1_000,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationJson {
    service: String,
    operation: String,
    baseline: StatsJson,
    current: StatsJson,
    p50_change: Option<f64>,
    p95_change: Option<f64>,
    error_rate_change: f64,
    regression: Option<f64>,
}

/// A ratio that JSON can carry (an operation that took 0 before has an infinite change).
fn finite(x: Option<f64>) -> Option<f64> {
    x.map(|v| if v.is_finite() { v } else { f64::MAX })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompareJson {
    service: Option<String>,
    baseline: SideJson,
    current: SideJson,
    operations: Vec<OperationJson>,
}

fn window(start_us: u64, end_us: u64, what: &str) -> Result<TimeRange, ApiError> {
    if start_us > end_us {
        return Err(ApiError::bad_request(format!(
            "the {what} window starts ({start_us}) after it ends ({end_us})"
        )));
    }
    Ok(TimeRange {
        start: start_us.saturating_mul(1_000),
        end: end_us.saturating_mul(1_000),
    })
}

pub async fn compare(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let service = params.get("service").filter(|s| !s.is_empty());
    let version = params.get("version").filter(|s| !s.is_empty());
    let baseline_version = params.get("baselineVersion").filter(|s| !s.is_empty());
    if version.is_some() != baseline_version.is_some() {
        return Err(ApiError::bad_request(
            "parameters 'version' and 'baselineVersion' go together",
        ));
    }
    let end = params.u64("end")?.unwrap_or(now_nanos() / 1_000);
    let start = params
        .u64("start")?
        .unwrap_or(end.saturating_sub(DEFAULT_WINDOW_US));
    let current = window(start, end, "current")?;
    let baseline = match (params.u64("baselineStart")?, params.u64("baselineEnd")?) {
        (Some(s), Some(e)) => window(s, e, "baseline")?,
        (None, None) if version.is_some() => current,
        (None, None) => {
            let length = end - start;
            window(start.saturating_sub(length), start, "baseline")?
        }
        _ => {
            return Err(ApiError::bad_request(
                "parameters 'baselineStart' and 'baselineEnd' go together",
            ));
        }
    };
    let current_side = CompareSide {
        window: current,
        version: version.map(str::to_string),
    };
    let baseline_side = CompareSide {
        window: baseline,
        version: baseline_version.map(str::to_string),
    };
    let result = state
        .query
        .compare(service, &baseline_side, &current_side)
        .await?;
    let side = |s: &CompareSide, traces: usize| SideJson {
        start: s.window.start / 1_000,
        end: s.window.end / 1_000,
        version: s.version.clone(),
        traces,
    };
    let body = CompareJson {
        service: service.map(str::to_string),
        baseline: side(&baseline_side, result.baseline_traces),
        current: side(&current_side, result.current_traces),
        operations: result
            .operations
            .iter()
            .map(|o| OperationJson {
                service: o.service.clone(),
                operation: o.operation.clone(),
                baseline: (&o.baseline).into(),
                current: (&o.current).into(),
                p50_change: finite(o.p50_change),
                p95_change: finite(o.p95_change),
                error_rate_change: o.error_rate_change,
                regression: finite(o.regression),
            })
            .collect(),
    };
    Ok(json(&Envelope { data: body }, params.pretty()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SectionJson {
    #[serde(rename = "spanID")]
    span_id: String,
    service_name: String,
    operation_name: String,
    start: u64,
    end: u64,
}

pub async fn critical_path(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(&id)?;
    let params = Params::parse(raw.as_deref());
    let sections = state.query.critical_path(id, None).await?;
    let body: Vec<SectionJson> = sections
        .into_iter()
        .map(|s| SectionJson {
            span_id: s.span_id.iter().map(|b| format!("{b:02x}")).collect(),
            service_name: s.service,
            operation_name: s.operation,
            start: s.start / 1_000,
            end: s.end / 1_000,
        })
        .collect();
    Ok(json(&Envelope { data: body }, params.pretty()))
}
