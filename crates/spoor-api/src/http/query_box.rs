//! The UI's query box on the query port: `GET /api/traceql?q=&start=&end=&limit=` runs a TraceQL
//! query (or the SQL form, when `q` starts with `SELECT`) through spoor-query's one plan and
//! answers the matched traces with their matched spans; `GET /api/traceql/tags` and
//! `GET /api/traceql/tags/{tag}/values` feed its autocompletion.
//!
//! Answers use Jaeger's envelope (`{"data": …}`); a query that does not parse is a 400 whose
//! error also carries the byte `position` of the fault. Refused requests are counted in
//! `spoor_query_box_requests_total{endpoint,outcome}`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde::Serialize;
use spoor_model::ErrorKind;
use spoor_query::sql::{self, TraceOrder};
use spoor_query::{MAX_SEARCH_LIMIT, PlanSearch, QueryService, TraceMatch, traceql};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

use super::params::Params;
use super::respond::json;
use crate::error::ApiError;

/// Matched spans listed per trace.
const SPANS_PER_TRACE: usize = 100;

#[derive(Clone)]
struct BoxState {
    query: QueryService,
    requests: Family<Vec<(String, String)>, Counter>,
}

impl BoxState {
    fn finish(&self, endpoint: &str, result: Result<Response, BoxError>) -> Response {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) if e.kind == ErrorKind::InvalidInput => "invalid",
            Err(_) => "failed",
        };
        self.requests
            .get_or_create(&vec![
                ("endpoint".to_string(), endpoint.to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ])
            .inc();
        match result {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }
}

/// A refused request; `position` is set for parse errors.
#[derive(Debug)]
struct BoxError {
    kind: ErrorKind,
    message: String,
    position: Option<usize>,
}

impl From<ApiError> for BoxError {
    fn from(e: ApiError) -> Self {
        BoxError {
            kind: e.kind,
            message: e.message,
            position: None,
        }
    }
}

impl From<spoor_query::QueryError> for BoxError {
    fn from(e: spoor_query::QueryError) -> Self {
        ApiError::from(e).into()
    }
}

fn bad(message: impl Into<String>) -> BoxError {
    ApiError::bad_request(message).into()
}

fn parse_error(language: &str, e: traceql::ParseError) -> BoxError {
    BoxError {
        kind: ErrorKind::InvalidInput,
        message: format!("invalid {language} query: {e}"),
        position: Some(e.position),
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    data: (),
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    code: u16,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
}

impl IntoResponse for BoxError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.message, "query box failed");
        }
        let body = ErrorBody {
            data: (),
            errors: [ErrorEntry {
                code: status.as_u16(),
                msg: &self.message,
                position: self.position,
            }],
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The routes, on their own state.
pub fn routes<S>(query: QueryService, telemetry: Option<&Telemetry>) -> Router<S> {
    let requests = Family::<Vec<(String, String)>, Counter>::default();
    if let Some(t) = telemetry {
        t.register(
            "query_box_requests",
            "Query-box requests (/api/traceql*) by endpoint and outcome (ok, invalid, failed)",
            requests.clone(),
        );
    }
    Router::new()
        .route("/api/traceql", get(search))
        .route("/api/traceql/tags", get(tags))
        .route("/api/traceql/tags/{tag}/values", get(tag_values))
        .with_state(BoxState { query, requests })
}

/// Unix microseconds (as the Jaeger form's `start`/`end`) as nanoseconds.
fn window(params: &Params) -> Result<(Option<u64>, Option<u64>), BoxError> {
    let micros = |key: &str| -> Result<Option<u64>, BoxError> {
        Ok(params.u64(key)?.map(|v| v.saturating_mul(1_000)))
    };
    let (start, end) = (micros("start")?, micros("end")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(bad("start must not be after end"));
    }
    Ok((start, end))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Found {
    #[serde(rename = "traceID")]
    trace_id: String,
    root_service_name: String,
    root_trace_name: String,
    /// Microseconds, as Jaeger's `startTime`.
    start_time: u64,
    /// Microseconds.
    duration: u64,
    /// The matched spans (at most [`SPANS_PER_TRACE`] per spanset), in start order.
    matched_spans: Vec<FoundSpan>,
    /// All spans matched, even beyond those listed.
    matched: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FoundSpan {
    #[serde(rename = "spanID")]
    span_id: String,
    name: String,
    service: String,
    /// Microseconds.
    start_time: u64,
    /// Microseconds.
    duration: u64,
}

fn found(t: &TraceMatch) -> Found {
    let s = &t.summary;
    let mut spans: Vec<&spoor_query::MatchedSpan> =
        t.spansets.iter().flat_map(|set| set.spans.iter()).collect();
    spans.sort_by_key(|sp| (sp.start_time_unix_nano, sp.span_id.to_hex()));
    spans.dedup_by_key(|sp| sp.span_id);
    Found {
        trace_id: s.trace_id.to_hex(),
        root_service_name: s.root_service_name.clone(),
        root_trace_name: s.root_operation_name.clone(),
        start_time: s.min_start_time_unix_nano / 1_000,
        duration: s
            .max_end_time_unix_nano
            .saturating_sub(s.min_start_time_unix_nano)
            / 1_000,
        matched_spans: spans
            .into_iter()
            .map(|sp| FoundSpan {
                span_id: sp.span_id.to_hex(),
                name: sp.name.clone(),
                service: sp.service.clone(),
                start_time: sp.start_time_unix_nano / 1_000,
                duration: sp.duration_nanos / 1_000,
            })
            .collect(),
        matched: t.spansets.iter().map(|set| set.matched).sum(),
    }
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

async fn search(State(state): State<BoxState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        let text = params
            .get("q")
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad("missing q: a TraceQL query or SELECT … FROM traces"))?;
        let (query, order, sql_limit) = if sql::is_sql(text) {
            let q = sql::parse_sql(text).map_err(|e| parse_error("SQL", e))?;
            (q.query, q.order, q.limit)
        } else {
            let q = traceql::parse(text).map_err(|e| parse_error("TraceQL", e))?;
            (q, TraceOrder::Newest, None)
        };
        let limit = match params.u64("limit")?.or(sql_limit.map(|l| l as u64)) {
            None | Some(0) => 20,
            Some(n) if n > MAX_SEARCH_LIMIT as u64 => {
                return Err(bad(format!(
                    "limit {n} is over the maximum of {MAX_SEARCH_LIMIT}"
                )));
            }
            Some(n) => n as usize,
        };
        let (start, end) = window(&params)?;
        let search = PlanSearch {
            query,
            start,
            end,
            min_trace_duration: None,
            max_trace_duration: None,
            limit,
            spans_per_spanset: SPANS_PER_TRACE,
            order,
        };
        let matches = state.query.search_plan(&search).await?;
        let data: Vec<Found> = matches.iter().map(found).collect();
        Ok(json(&Data { data }, params.pretty()))
    }
    .await;
    state.finish("search", result)
}

#[derive(Serialize)]
struct TagList {
    span: Vec<String>,
    resource: Vec<String>,
}

async fn tags(State(state): State<BoxState>, RawQuery(raw): RawQuery) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        let (start, end) = window(&params)?;
        let names = state.query.tag_names(start, end).await?;
        let data = TagList {
            span: names.span.into_iter().collect(),
            resource: names.resource.into_iter().collect(),
        };
        Ok(json(&Data { data }, false))
    }
    .await;
    state.finish("tags", result)
}

async fn tag_values(
    State(state): State<BoxState>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(raw.as_deref());
        let (start, end) = window(&params)?;
        let field = traceql::resolve_field(&tag).ok_or_else(|| {
            bad(format!(
                "invalid tag {tag:?}: expected an intrinsic or a scoped attribute such as span.http.method"
            ))
        })?;
        let values = state.query.tag_values(&field, start, end).await?;
        let mut data: Vec<String> = values.iter().map(|v| v.to_text()).collect();
        data.dedup();
        Ok(json(&Data { data }, false))
    }
    .await;
    state.finish("tag_values", result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt;

    fn router() -> Router {
        let store = std::sync::Arc::new(spoor_storage::MemoryStore::new(100));
        routes(QueryService::new(store), None)
    }

    async fn get_json(path: &str) -> (StatusCode, serde_json::Value) {
        let response = router()
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json body"))
    }

    #[tokio::test]
    async fn a_traceql_parse_error_is_a_400_with_its_position() {
        let (status, body) = get_json("/api/traceql?q=%7B%20span.a%20%3D%20%7D").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let err = &body["errors"][0];
        assert_eq!(err["code"], 400);
        assert!(err["position"].as_u64().is_some(), "{body}");
        assert!(
            err["msg"]
                .as_str()
                .is_some_and(|m| m.contains("invalid TraceQL query")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_sql_parse_error_names_sql() {
        let (status, body) = get_json("/api/traceql?q=SELECT%20*%20FROM%20nowhere").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["errors"][0]["msg"]
                .as_str()
                .is_some_and(|m| m.contains("invalid SQL query")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_missing_query_or_huge_limit_is_refused() {
        assert_eq!(get_json("/api/traceql").await.0, StatusCode::BAD_REQUEST);
        let (status, _) = get_json("/api/traceql?q=%7B%7D&limit=99999999999").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get_json("/api/traceql/tags/nonsense/values").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_empty_store_answers_empty_lists() {
        let (status, body) = get_json("/api/traceql?q=%7B%20%7D").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], serde_json::json!([]));
        let (status, body) = get_json("/api/traceql/tags").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["span"], serde_json::json!([]));
    }
}
