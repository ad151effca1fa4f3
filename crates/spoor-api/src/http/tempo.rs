//! Tempo's HTTP query API (served on `--tempo-http`, 3200), so Grafana's Tempo data source reads
//! from Spoor: trace by id (v1 and v2, OTLP JSON or protobuf), TraceQL search (and the SQL forms;
//! analytics SQL `… FROM spans` answers with a table), tag names and
//! values (v1 and v2), TraceQL metrics (`/api/metrics/query_range`, `/api/metrics/query`), echo,
//! build info and readiness.
//!
//! Errors are Tempo's: a plain-text body with the status from `ErrorKind`; every refused request
//! is counted in `spoor_tempo_requests_total{endpoint,outcome}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message;
use spoor_model::ErrorKind;
use spoor_query::plan::{Field, Intrinsic, Query, Value};
use spoor_query::sql::{self, TraceOrder};
use spoor_query::sql_analytics;
use spoor_query::{
    MAX_METRICS_STEPS, MAX_SEARCH_LIMIT, MetricsRange, PlanSearch, QueryError, QueryService,
    traceql,
};
use spoor_storage::TimeRange;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

use super::params::{Params, parse_trace_id};
use super::respond::json;
use super::tempo_json::{self, SearchResponse};

/// Spans per spanset when `spss` is not given (Tempo's default).
const DEFAULT_SPSS: usize = 3;
/// Most spans per spanset a search may ask for.
const MAX_SPSS: usize = 1_000;

#[derive(Clone)]
struct TempoState {
    query: QueryService,
    requests: Arc<Family<Vec<(String, String)>, Counter>>,
}

impl TempoState {
    fn count(&self, endpoint: &str, outcome: &str) {
        self.requests
            .get_or_create(&vec![
                ("endpoint".to_string(), endpoint.to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ])
            .inc();
    }

    /// Counts the outcome of a handler and turns errors into Tempo's plain-text answers.
    fn finish(&self, endpoint: &str, result: Result<Response, TempoError>) -> Response {
        match result {
            Ok(r) => {
                self.count(endpoint, "ok");
                r
            }
            Err(e) => {
                let outcome = match e.kind {
                    ErrorKind::InvalidInput => "invalid",
                    ErrorKind::NotFound => "not_found",
                    _ => "failed",
                };
                self.count(endpoint, outcome);
                e.into_response()
            }
        }
    }
}

/// A refused Tempo request.
#[derive(Debug)]
struct TempoError {
    kind: ErrorKind,
    message: String,
}

fn bad(message: impl Into<String>) -> TempoError {
    TempoError {
        kind: ErrorKind::InvalidInput,
        message: message.into(),
    }
}

impl From<QueryError> for TempoError {
    fn from(e: QueryError) -> Self {
        TempoError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<crate::error::ApiError> for TempoError {
    fn from(e: crate::error::ApiError) -> Self {
        TempoError {
            kind: e.kind,
            message: e.message,
        }
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.message, "tempo query failed");
        }
        (status, format!("{}\n", self.message)).into_response()
    }
}

/// The router served on `--tempo-http`.
pub fn tempo_router(query: QueryService, telemetry: &Telemetry) -> Router {
    let requests = Family::<Vec<(String, String)>, Counter>::default();
    telemetry.register(
        "tempo_requests",
        "Tempo API requests by endpoint and outcome (ok, invalid, not_found, failed)",
        requests.clone(),
    );
    let state = TempoState {
        query,
        requests: Arc::new(requests),
    };
    Router::new()
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search))
        .route("/api/search/tags", get(tags_v1))
        .route("/api/v2/search/tags", get(tags_v2))
        .route("/api/search/tag/{tag}/values", get(tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tag_values_v2))
        .route("/api/metrics/query_range", get(metrics_range))
        .route("/api/metrics/query", get(metrics_instant))
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/ready", get(|| async { "ready" }))
        .fallback(|uri: http::Uri| async move {
            (
                StatusCode::NOT_FOUND,
                format!("no Tempo API endpoint at {}\n", uri.path()),
            )
        })
        .with_state(state)
}

/// Unix seconds (Tempo's `start`/`end`) as nanoseconds.
fn seconds(params: &Params, key: &str) -> Result<Option<u64>, TempoError> {
    params
        .get(key)
        .map(|v| {
            v.parse::<u64>()
                .map(|s| s.saturating_mul(1_000_000_000))
                .map_err(|_| bad(format!("invalid {key} {v:?}: expected unix seconds")))
        })
        .transpose()
}

fn window(params: &Params) -> Result<(Option<u64>, Option<u64>), TempoError> {
    let (start, end) = (seconds(params, "start")?, seconds(params, "end")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(bad("start must not be after end"));
    }
    // `end` is a whole second: include spans started during it.
    Ok((start, end.map(|e| e.saturating_add(999_999_999))))
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/protobuf"))
}

fn protobuf(body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/protobuf"),
    );
    r
}

async fn fetch_trace(
    state: &TempoState,
    id: &str,
    raw: Option<&str>,
) -> Result<spoor_storage::Trace, TempoError> {
    let id = parse_trace_id(id)?;
    let params = Params::parse(raw);
    let window = match window(&params)? {
        (Some(start), Some(end)) => Some(TimeRange { start, end }),
        _ => None,
    };
    Ok(state.query.trace(id, window).await?)
}

async fn trace_v1(
    State(state): State<TempoState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let trace = fetch_trace(&state, &id, raw.as_deref()).await?;
        let data = spoor_model::otlp_trace::TracesData {
            resource_spans: trace.resource_spans,
        };
        Ok(if wants_protobuf(&headers) {
            // tempopb.Trace: field 1, repeated ResourceSpans, as OTLP's TracesData.
            protobuf(data.encode_to_vec())
        } else {
            json(
                &tempo_json::TraceV1 {
                    batches: &data.resource_spans,
                },
                false,
            )
        })
    }
    .await;
    state.finish("trace", result)
}

async fn trace_v2(
    State(state): State<TempoState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let trace = fetch_trace(&state, &id, raw.as_deref()).await?;
        let data = spoor_model::otlp_trace::TracesData {
            resource_spans: trace.resource_spans,
        };
        Ok(if wants_protobuf(&headers) {
            // TraceByIDResponse { Trace trace = 1; }, the trace wire-identical to TracesData.
            let inner = data.encode_to_vec();
            let mut body = Vec::with_capacity(inner.len() + 11);
            prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut body);
            prost::encoding::encode_varint(inner.len() as u64, &mut body);
            body.extend_from_slice(&inner);
            protobuf(body)
        } else {
            json(
                &tempo_json::TraceV2 {
                    trace: tempo_json::TraceV2Inner {
                        resource_spans: &data.resource_spans,
                    },
                },
                false,
            )
        })
    }
    .await;
    state.finish("trace", result)
}

/// Tempo's `tags` parameter (logfmt `key=value key2="v 2"`) as TraceQL conditions.
fn tags_to_traceql(tags: &str) -> Result<String, TempoError> {
    let mut conds = Vec::new();
    let mut rest = tags.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| bad(format!("invalid tags {tags:?}: expected key=value pairs")))?;
        let key = key.trim();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| bad(format!("invalid tags {tags:?}: unterminated quote")))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(' ').unwrap_or((after, ""))
        };
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '"') {
            return Err(bad(format!("invalid tags {tags:?}: bad key {key:?}")));
        }
        let lit = serde_json::to_string(value).map_err(|e| bad(e.to_string()))?;
        let field = match key {
            "name" => "name".to_string(),
            "status.code" | "status" => {
                conds.push(format!("status = {}", value.to_ascii_lowercase()));
                rest = next.trim_start();
                continue;
            }
            k => format!(".{k}"),
        };
        let cond = match value.parse::<f64>() {
            Ok(_) => format!("({field} = {lit} || {field} = {value})"),
            Err(_) if value == "true" || value == "false" => {
                format!("({field} = {lit} || {field} = {value})")
            }
            Err(_) => format!("{field} = {lit}"),
        };
        conds.push(cond);
        rest = next.trim_start();
    }
    Ok(format!("{{ {} }}", conds.join(" && ")))
}

async fn search(State(state): State<TempoState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        if let Some(q) = params.get("q").filter(|q| sql_analytics::is_analytics(q)) {
            // Analytics SQL over spans answers with a table instead of traces.
            let q = sql_analytics::parse_analytics(q)
                .map_err(|e| bad(format!("invalid SQL query: {e}")))?;
            let (start, end) = window(&params)?;
            let table = state.query.sql_analytics(&q, start, end).await?;
            return Ok(json(&table, false));
        }
        let (query, order, sql_limit) = parse_search_query(&params)?;
        let limit = match params.u64("limit")?.or(sql_limit.map(|l| l as u64)) {
            None | Some(0) => 20,
            Some(n) if n as usize > MAX_SEARCH_LIMIT || n > usize::MAX as u64 => {
                return Err(bad(format!(
                    "limit {n} is over the maximum of {MAX_SEARCH_LIMIT}"
                )));
            }
            Some(n) => n as usize,
        };
        let spss = match params.u64("spss")? {
            None | Some(0) => DEFAULT_SPSS,
            Some(n) if n as usize > MAX_SPSS => {
                return Err(bad(format!("spss {n} is over the maximum of {MAX_SPSS}")));
            }
            Some(n) => n as usize,
        };
        let (start, end) = window(&params)?;
        let search = PlanSearch {
            query,
            start,
            end,
            min_trace_duration: params.duration("minDuration")?,
            max_trace_duration: params.duration("maxDuration")?,
            limit,
            spans_per_spanset: spss,
            order,
        };
        let found = state.query.search_plan(&search).await?;
        Ok(json(&SearchResponse::of(&found), false))
    }
    .await;
    state.finish("search", result)
}

/// `q` (TraceQL, or the SQL form when it starts with `SELECT`) or `tags`, as a plan.
fn parse_search_query(params: &Params) -> Result<(Query, TraceOrder, Option<usize>), TempoError> {
    let text = match (params.get("q"), params.get("tags")) {
        (Some(q), _) => q.to_string(),
        (None, Some(tags)) => tags_to_traceql(tags)?,
        (None, None) => "{ }".to_string(),
    };
    if sql::is_sql(&text) {
        let q = sql::parse_sql(&text).map_err(|e| bad(format!("invalid SQL query: {e}")))?;
        return Ok((q.query, q.order, q.limit));
    }
    let q = traceql::parse(&text).map_err(|e| bad(format!("invalid TraceQL query: {e}")))?;
    Ok((q, TraceOrder::Newest, None))
}

async fn tags_v1(State(state): State<TempoState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        let (start, end) = window(&params)?;
        let names = state.query.tag_names(start, end).await?;
        let scope = params.get("scope").unwrap_or("all");
        let mut all: Vec<String> = match scope {
            "span" => names.span.into_iter().collect(),
            "resource" => names.resource.into_iter().collect(),
            "all" | "none" => names.span.into_iter().chain(names.resource).collect(),
            other => {
                return Err(bad(format!(
                    "invalid scope {other:?}: expected span, resource or all"
                )));
            }
        };
        all.sort();
        all.dedup();
        Ok(json(&tempo_json::TagNamesV1 { tag_names: all }, false))
    }
    .await;
    state.finish("tags", result)
}

async fn tags_v2(State(state): State<TempoState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        let (start, end) = window(&params)?;
        let names = state.query.tag_names(start, end).await?;
        let scope = params.get("scope").unwrap_or("all");
        let scopes = tempo_json::TagScopes::of(names, scope).ok_or_else(|| {
            bad(format!(
                "invalid scope {scope:?}: expected span, resource, event, link, instrumentation, intrinsic or all"
            ))
        })?;
        Ok(json(&scopes, false))
    }
    .await;
    state.finish("tags", result)
}

/// The field a tag-values path names: a TraceQL field, or (v1) a bare attribute name.
fn tag_field(tag: &str, v1: bool) -> Result<Field, TempoError> {
    match traceql::resolve_field(tag) {
        Some(f) => Ok(f),
        None if v1 && !tag.is_empty() => Ok(Field::Attribute {
            scope: spoor_query::plan::Scope::Unscoped,
            name: tag.to_string(),
        }),
        None => Err(bad(format!(
            "invalid tag {tag:?}: expected an intrinsic or a scoped attribute such as resource.service.name"
        ))),
    }
}

async fn tag_values(
    state: &TempoState,
    tag: &str,
    raw: Option<&str>,
    v1: bool,
) -> Result<Vec<Value>, TempoError> {
    let params = Params::parse(raw);
    let (start, end) = window(&params)?;
    let field = tag_field(tag, v1)?;
    Ok(state.query.tag_values(&field, start, end).await?)
}

async fn tag_values_v1(
    State(state): State<TempoState>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let values = tag_values(&state, &tag, raw.as_deref(), true).await?;
        let mut texts: Vec<String> = values.iter().map(Value::to_text).collect();
        texts.dedup();
        Ok(json(&tempo_json::TagValuesV1 { tag_values: texts }, false))
    }
    .await;
    state.finish("tag_values", result)
}

async fn tag_values_v2(
    State(state): State<TempoState>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let values = tag_values(&state, &tag, raw.as_deref(), false).await?;
        let keyword = matches!(
            tag_field(&tag, false)?,
            Field::Intrinsic(Intrinsic::Status | Intrinsic::Kind)
        );
        Ok(json(&tempo_json::TagValuesV2::of(&values, keyword), false))
    }
    .await;
    state.finish("tag_values", result)
}

/// A metrics time: unix seconds (fractions allowed), unix nanoseconds, or RFC 3339.
fn metrics_time(params: &Params, key: &str) -> Result<Option<u64>, TempoError> {
    let Some(v) = params.get(key) else {
        return Ok(None);
    };
    if let Ok(n) = v.parse::<u64>() {
        return Ok(Some(if n > 100_000_000_000 {
            n
        } else {
            n.saturating_mul(1_000_000_000)
        }));
    }
    if let Ok(f) = v.parse::<f64>()
        && (0.0..1e11).contains(&f)
    {
        return Ok(Some((f * 1e9) as u64));
    }
    super::parse_rfc3339(v).map(Some).ok_or_else(|| {
        bad(format!(
            "invalid {key} {v:?}: expected unix seconds, nanoseconds or RFC 3339"
        ))
    })
}

/// `q`, `start`, `end`, `step` of a metrics request; `instant` makes one step of the range.
fn metrics_request(params: &Params, instant: bool) -> Result<MetricsRange, TempoError> {
    let text = params
        .get("q")
        .ok_or_else(|| bad("missing q: a TraceQL metrics query"))?;
    let query = traceql::parse_metrics(text)
        .map_err(|e| bad(format!("invalid TraceQL metrics query: {e}")))?;
    let now = super::params::now_nanos();
    let end = metrics_time(params, "end")?.unwrap_or(now);
    let start = metrics_time(params, "start")?.unwrap_or(end.saturating_sub(3_600_000_000_000));
    if start >= end {
        return Err(bad("start must be before end"));
    }
    let step = if instant {
        end - start
    } else {
        match params.get("step") {
            Some(v) => match v.parse::<f64>() {
                Ok(secs) if secs > 0.0 => (secs * 1e9) as u64,
                Ok(_) => return Err(bad("step must be positive")),
                Err(_) => crate::parse_go_duration(v)
                    .map_err(|e| bad(format!("invalid step {v:?}: {e}")))?,
            },
            None => ((end - start) / 100).max(1_000_000_000),
        }
    };
    if step == 0 {
        return Err(bad("step must be positive"));
    }
    let steps = (end - start).div_ceil(step);
    if steps > MAX_METRICS_STEPS {
        return Err(bad(format!(
            "{steps} steps of {step}ns between start and end, more than {MAX_METRICS_STEPS}: use a larger step"
        )));
    }
    Ok(MetricsRange {
        query,
        start,
        end,
        step,
    })
}

async fn metrics_range(State(state): State<TempoState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let range = metrics_request(&Params::parse(raw.as_deref()), false)?;
        let series = state.query.metrics_range(&range).await?;
        Ok(json(&tempo_json::MetricsRangeResponse::of(&series), false))
    }
    .await;
    state.finish("metrics", result)
}

async fn metrics_instant(State(state): State<TempoState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let range = metrics_request(&Params::parse(raw.as_deref()), true)?;
        let series = state.query.metrics_range(&range).await?;
        Ok(json(
            &tempo_json::MetricsInstantResponse::of(&series),
            false,
        ))
    }
    .await;
    state.finish("metrics", result)
}

async fn buildinfo() -> Response {
    json(
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_traceql() {
        let q = tags_to_traceql("service.name=frontend http.status_code=200 name=\"GET /cart\"")
            .expect("valid");
        assert_eq!(
            q,
            "{ .service.name = \"frontend\" && (.http.status_code = \"200\" || .http.status_code = 200) && name = \"GET /cart\" }"
        );
        assert!(traceql::parse(&q).is_ok());
        assert!(tags_to_traceql("novalue").is_err());
        assert!(tags_to_traceql("a=\"open").is_err());
    }
}
