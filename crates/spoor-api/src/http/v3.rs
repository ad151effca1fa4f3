//! Jaeger's api_v3 over HTTP (`/api/v3/*`): OTLP JSON traces, JSON services, operations,
//! summaries and dependencies.
//!
//! Every parameter is accepted under both names Jaeger's HTTP gateway accepts: the JSON name of
//! jaeger-idl's OpenAPI document (`query.serviceName`, `spanKind`, `startTime`, what the Jaeger
//! UI sends) and the proto field name (`query.service_name`, `span_kind`, `start_time`).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spoor_model::ResourceSpans;
use spoor_query::TraceQuery;
use spoor_query::TraceSummary;
use spoor_storage::{OperationQuery, TimeRange, Trace};

use super::ApiState;
use super::params::{DEFAULT_LIMIT, MAX_LIMIT, Params, now_nanos, parse_trace_id};
use super::respond::{json, json_array_stream, json_status};
use crate::duration::parse_go_duration;
use crate::error::ApiError;

/// Default search window when `query.startTimeMin` is absent: two days.
const DEFAULT_LOOKBACK_NANOS: u64 = 2 * 24 * 3600 * 1_000_000_000;
/// Default dependency window when `startTime` is absent: one day.
const DEFAULT_DEPENDENCY_LOOKBACK_NANOS: u64 = 24 * 3600 * 1_000_000_000;

// Each parameter's names: the JSON (camelCase) name first, then the proto (snake_case) one.
const SERVICE_NAME: &[&str] = &["query.serviceName", "query.service_name"];
const OPERATION_NAME: &[&str] = &["query.operationName", "query.operation_name"];
const START_TIME_MIN: &[&str] = &["query.startTimeMin", "query.start_time_min"];
const START_TIME_MAX: &[&str] = &["query.startTimeMax", "query.start_time_max"];
const DURATION_MIN: &[&str] = &["query.durationMin", "query.duration_min"];
const DURATION_MAX: &[&str] = &["query.durationMax", "query.duration_max"];
/// `num_traces` is the field's name before jaeger-idl renamed it `search_depth`.
const SEARCH_DEPTH: &[&str] = &[
    "query.searchDepth",
    "query.search_depth",
    "query.numTraces",
    "query.num_traces",
];
const QUERY_RAW_TRACES: &[&str] = &["query.rawTraces", "query.raw_traces"];
const PAGE_SIZE: &[&str] = &["query.pagination.pageSize", "query.pagination.page_size"];
const PAGE_TOKEN: &[&str] = &["query.pagination.pageToken", "query.pagination.page_token"];
const FILTER: &[&str] = &["query.filter"];
const ATTRIBUTES: &str = "query.attributes";
const SPAN_KIND: &[&str] = &["spanKind", "span_kind"];
const START_TIME: &[&str] = &["startTime", "start_time"];
const END_TIME: &[&str] = &["endTime", "end_time"];
const RAW_TRACES: &[&str] = &["rawTraces", "raw_traces"];

/// api_v3 errors, as Jaeger's HTTP gateway writes them:
/// `{"error":{"httpCode":N,"message":"..."}}`.
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    http_code: u16,
    message: &'a str,
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::warn!(error = %self.0.message, "query failed");
        }
        let body = BTreeMap::from([(
            "error",
            ErrorBody {
                http_code: status.as_u16(),
                message: &self.0.message,
            },
        )]);
        json_status(status, &body, false)
    }
}

pub async fn services(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let pretty = Params::parse(raw.as_deref()).pretty();
    let services = state.query.services().await?;
    Ok(json(&BTreeMap::from([("services", services)]), pretty))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationJson {
    name: String,
    span_kind: String,
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
            span_kind: params.get_any(SPAN_KIND).map(str::to_string),
        })
        .await?;
    let operations: Vec<OperationJson> = ops
        .into_iter()
        .map(|op| OperationJson {
            name: op.name,
            span_kind: op.span_kind,
        })
        .collect();
    Ok(json(
        &BTreeMap::from([("operations", operations)]),
        params.pretty(),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultJson<'a> {
    resource_spans: Vec<&'a ResourceSpans>,
}

/// `{"result":{"resourceSpans":[…]}}`: streamed one resource at a time, or indented in one
/// piece when `pretty`.
fn otlp_result(traces: Vec<Trace>, pretty: bool) -> Response {
    if pretty {
        let resource_spans = traces
            .iter()
            .flat_map(|t| t.resource_spans.iter())
            .collect();
        return json(
            &BTreeMap::from([("result", ResultJson { resource_spans })]),
            true,
        );
    }
    json_array_stream(
        "{\"result\":{\"resourceSpans\":[",
        traces.into_iter().flat_map(|t| t.resource_spans),
        "]}}",
    )
}

/// Parses an RFC 3339 timestamp (`2026-05-01T10:00:00.123456789Z`, or with a `+02:00` offset)
/// into unix nanoseconds.
pub(crate) fn parse_rfc3339(v: &str) -> Option<u64> {
    let v = v.trim();
    let (base, offset_secs) = match v
        .len()
        .checked_sub(6)
        .and_then(|i| v.get(i..).map(|o| (i, o)))
    {
        Some((i, o))
            if (o.starts_with('+') || o.starts_with('-'))
                && o.as_bytes().get(3) == Some(&b':')
                && v.as_bytes().get(10) == Some(&b'T') =>
        {
            let hours: i64 = o.get(1..3)?.parse().ok()?;
            let minutes: i64 = o.get(4..6)?.parse().ok()?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            (v.get(..i)?, sign * (hours * 3600 + minutes * 60))
        }
        _ => (v, 0),
    };
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let nanos = i128::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()).ok()?;
    u64::try_from(nanos - i128::from(offset_secs) * 1_000_000_000).ok()
}

fn time_param(params: &Params, names: &[&str]) -> Result<Option<u64>, ApiError> {
    let Some(v) = params.get_any(names) else {
        return Ok(None);
    };
    parse_rfc3339(v).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "parameter {:?} must be an RFC 3339 time, got {v:?}",
            names[0]
        ))
    })
}

fn duration_param(params: &Params, names: &[&str]) -> Result<Option<u64>, ApiError> {
    params
        .get_any(names)
        .map(|v| {
            parse_go_duration(v)
                .map_err(|e| ApiError::bad_request(format!("parameter {:?}: {e}", names[0])))
        })
        .transpose()
}

fn u64_param(params: &Params, names: &[&str]) -> Result<Option<u64>, ApiError> {
    let Some(name) = names.iter().find(|n| params.get(n).is_some()) else {
        return Ok(None);
    };
    params.u64(name)
}

pub async fn trace(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let id = parse_trace_id(&id)?;
    let params = Params::parse(raw.as_deref());
    // Spoor returns traces as stored either way: it applies no enrichment to skip.
    params.flag(RAW_TRACES)?;
    let window = match (
        time_param(&params, START_TIME)?,
        time_param(&params, END_TIME)?,
    ) {
        (Some(start), Some(end)) => Some(TimeRange { start, end }),
        _ => None,
    };
    let trace = state.query.trace(id, window).await?;
    Ok(otlp_result(vec![trace], params.pretty()))
}

/// `query.attributes`: a JSON object of strings (numbers and booleans taken as their text), and
/// `query.attributes[key]=value` pairs.
fn attributes(params: &Params) -> Result<Vec<(String, String)>, ApiError> {
    let mut attributes = Vec::new();
    if let Some(text) = params.get(ATTRIBUTES) {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("malformed 'query.attributes': {e}")))?;
        for (k, v) in map {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "malformed 'query.attributes': value of {k:?} is {other}"
                    )));
                }
            };
            attributes.push((k, value));
        }
    }
    for (key, value) in params.prefixed("query.attributes[") {
        if let Some(key) = key.strip_suffix(']') {
            attributes.push((key.to_string(), value.to_string()));
        }
    }
    Ok(attributes)
}

/// The `query.*` parameters of api_v3's `TraceQueryParameters`.
fn v3_query(params: &Params) -> Result<TraceQuery, ApiError> {
    if params.get_any(FILTER).is_some() {
        return Err(ApiError::bad_request(
            "query.filter (structured filters) is not supported",
        ));
    }
    if let Some(token) = params.get_any(PAGE_TOKEN) {
        return Err(ApiError::bad_request(format!(
            "query.pagination.pageToken {token:?} is not valid: this server does not paginate"
        )));
    }
    let service = params
        .get_any(SERVICE_NAME)
        .ok_or_else(|| ApiError::bad_request("parameter 'query.serviceName' is required"))?;
    params.flag(QUERY_RAW_TRACES)?;
    let end = time_param(params, START_TIME_MAX)?.unwrap_or_else(now_nanos);
    let start =
        time_param(params, START_TIME_MIN)?.unwrap_or(end.saturating_sub(DEFAULT_LOOKBACK_NANOS));
    if start > end {
        return Err(ApiError::bad_request(
            "'query.startTimeMin' must not be after 'query.startTimeMax'",
        ));
    }
    let depth = u64_param(params, SEARCH_DEPTH)?;
    let page_size = u64_param(params, PAGE_SIZE)?;
    if depth.is_some() && page_size.is_some() {
        return Err(ApiError::bad_request(
            "'query.searchDepth' and 'query.pagination' are mutually exclusive",
        ));
    }
    let limit = match depth.or(page_size) {
        Some(0) | None => DEFAULT_LIMIT,
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    let duration_min = duration_param(params, DURATION_MIN)?;
    let duration_max = duration_param(params, DURATION_MAX)?;
    if let (Some(min), Some(max)) = (duration_min, duration_max)
        && min > max
    {
        return Err(ApiError::bad_request(
            "'query.durationMin' must not be greater than 'query.durationMax'",
        ));
    }
    Ok(TraceQuery {
        service: Some(service.to_string()),
        operation: params.get_any(OPERATION_NAME).map(str::to_string),
        attributes: attributes(params)?,
        start_min: Some(start),
        start_max: Some(end),
        duration_min,
        duration_max,
        limit,
    })
}

pub async fn find_traces(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let traces = state.query.find_traces(&v3_query(&params)?).await?;
    Ok(otlp_result(traces, params.pretty()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSummaryJson<'a> {
    name: &'a str,
    span_count: usize,
    error_span_count: usize,
}

/// api_v3 `TraceSummary` in proto3 JSON: 64-bit integers as decimal strings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson<'a> {
    trace_id: String,
    root_service_name: &'a str,
    root_operation_name: &'a str,
    min_start_time_unix_nano: String,
    max_end_time_unix_nano: String,
    span_count: usize,
    error_span_count: usize,
    orphan_span_count: usize,
    services: Vec<ServiceSummaryJson<'a>>,
}

impl<'a> From<&'a TraceSummary> for SummaryJson<'a> {
    fn from(s: &'a TraceSummary) -> Self {
        Self {
            trace_id: s.trace_id.to_hex(),
            root_service_name: &s.root_service_name,
            root_operation_name: &s.root_operation_name,
            min_start_time_unix_nano: s.min_start_time_unix_nano.to_string(),
            max_end_time_unix_nano: s.max_end_time_unix_nano.to_string(),
            span_count: s.span_count,
            error_span_count: s.error_span_count,
            orphan_span_count: s.orphan_span_count,
            services: s
                .services
                .iter()
                .map(|svc| ServiceSummaryJson {
                    name: &svc.name,
                    span_count: svc.span_count,
                    error_span_count: svc.error_span_count,
                })
                .collect(),
        }
    }
}

pub async fn trace_summaries(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let summaries = state
        .query
        .find_trace_summaries(&v3_query(&params)?)
        .await?;
    let summaries: Vec<SummaryJson> = summaries.iter().map(SummaryJson::from).collect();
    Ok(json(
        &BTreeMap::from([("summaries", summaries)]),
        params.pretty(),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DependencyJson {
    parent: String,
    child: String,
    /// uint64 in proto3 JSON: a decimal string.
    call_count: String,
}

/// `GET /api/v3/dependencies?startTime=&endTime=` (RFC 3339; default: the last day).
pub async fn dependencies(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, V3Error> {
    let params = Params::parse(raw.as_deref());
    let end = time_param(&params, END_TIME)?.unwrap_or_else(now_nanos);
    let start = time_param(&params, START_TIME)?
        .unwrap_or(end.saturating_sub(DEFAULT_DEPENDENCY_LOOKBACK_NANOS));
    if start > end {
        return Err(ApiError::bad_request("'startTime' must not be after 'endTime'").into());
    }
    let links = state.query.dependencies(end, end - start).await?;
    let dependencies: Vec<DependencyJson> = links
        .into_iter()
        .map(|l| DependencyJson {
            parent: l.parent,
            child: l.child,
            call_count: l.call_count.to_string(),
        })
        .collect();
    Ok(json(
        &BTreeMap::from([("dependencies", dependencies)]),
        params.pretty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<TraceQuery, ApiError> {
        v3_query(&Params::parse(Some(s)))
    }

    #[test]
    fn both_spellings_give_the_same_query() {
        let camel = q("query.serviceName=a&query.operationName=op&query.startTimeMin=2026-01-01T00:00:00Z&query.startTimeMax=2026-01-01T01:00:00.5Z&query.durationMin=1.5ms&query.durationMax=2s&query.searchDepth=7&query.attributes=%7B%22k%22%3A%22v%22%7D&query.rawTraces=true").expect("valid");
        let snake = q("query.service_name=a&query.operation_name=op&query.start_time_min=2026-01-01T00:00:00Z&query.start_time_max=2026-01-01T01:00:00.5Z&query.duration_min=1.5ms&query.duration_max=2s&query.search_depth=7&query.attributes=%7B%22k%22%3A%22v%22%7D&query.raw_traces=true").expect("valid");
        assert_eq!(camel, snake);
        assert_eq!(camel.service.as_deref(), Some("a"));
        assert_eq!(camel.operation.as_deref(), Some("op"));
        assert_eq!(camel.start_min, Some(1_767_225_600_000_000_000));
        assert_eq!(camel.start_max, Some(1_767_229_200_500_000_000));
        assert_eq!(camel.duration_min, Some(1_500_000));
        assert_eq!(camel.duration_max, Some(2_000_000_000));
        assert_eq!(camel.limit, 7);
        assert_eq!(camel.attributes, vec![("k".into(), "v".into())]);
    }

    #[test]
    fn proto_json_durations_and_offsets_are_read() {
        let query = q("query.serviceName=a&query.durationMin=0.000001s&query.startTimeMin=2026-01-01T02:00:00%2B02:00&query.startTimeMax=2026-01-01T00:00:01-00:00").expect("valid");
        assert_eq!(query.duration_min, Some(1_000));
        assert_eq!(query.start_min, Some(1_767_225_600_000_000_000));
        assert_eq!(query.start_max, Some(1_767_225_601_000_000_000));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for bad in [
            "query.operationName=x",
            "query.serviceName=a&query.filter=%7B%7D",
            "query.serviceName=a&query.pagination.pageToken=abc",
            "query.serviceName=a&query.searchDepth=5&query.pagination.pageSize=5",
            "query.serviceName=a&query.rawTraces=maybe",
            "query.serviceName=a&query.startTimeMin=yesterday",
            "query.serviceName=a&query.durationMin=2s&query.durationMax=1s",
            "query.serviceName=a&query.attributes=%5B%5D",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
        let paged = q("query.serviceName=a&query.pagination.pageSize=3").expect("valid");
        assert_eq!(paged.limit, 3);
        let capped = q("query.serviceName=a&query.searchDepth=1000000000").expect("valid");
        assert_eq!(capped.limit, MAX_LIMIT);
    }
}
