//! `POST /api/admin/delete` on the admin port: deletes stored spans on demand.
//!
//! Parameters (query string): `before` (an RFC 3339 time, or an age such as `72h`: spans
//! that started before now minus it) and `service` (spans of that service); spans matching
//! every one given are deleted, and at least one is required. Answers 200 with a JSON report,
//! 400 for bad input, 501 when the store cannot delete (the memory store). Every request is
//! counted in `spoor_admin_delete_requests_total{outcome}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use spoor_model::ErrorKind;
use spoor_storage::StorageError;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

/// What to delete: spans matching every condition given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// Spans that started before this (unix nanoseconds).
    pub before: Option<u64>,
    pub service: Option<String>,
}

/// A store that deletes on demand (the disk engine); the binary implements it.
pub trait Purger: Send + Sync + 'static {
    /// Deletes the spans `request` selects; the report is answered as JSON.
    fn delete(
        &self,
        request: DeleteRequest,
    ) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, StorageError>> + Send + '_>>;
}

/// Parses a `before` value: an RFC 3339 time (`2026-11-30T00:00:00Z`, or with an offset), or
/// an age (`72h`, `30m`, `1h30m`) counted back from `now` (unix nanoseconds).
pub fn parse_before(value: &str, now: u64) -> Result<u64, String> {
    let value = value.trim();
    if let Some(t) = crate::http::parse_rfc3339(value) {
        return Ok(t);
    }
    match humantime::parse_duration(value) {
        Ok(age) => Ok(now.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX))),
        Err(_) => Err(format!(
            "before must be an RFC 3339 time (2026-11-30T00:00:00Z) or an age (72h), got {value:?}"
        )),
    }
}

#[derive(Clone)]
pub(crate) struct PurgeState {
    purger: Option<Arc<dyn Purger>>,
    requests: Family<Vec<(String, String)>, Counter>,
}

impl PurgeState {
    pub(crate) fn new(purger: Option<Arc<dyn Purger>>, telemetry: &Telemetry) -> Self {
        let requests = Family::<Vec<(String, String)>, Counter>::default();
        telemetry.register(
            "admin_delete_requests",
            "POST /api/admin/delete requests by outcome (ok, invalid, unsupported, failed)",
            requests.clone(),
        );
        Self { purger, requests }
    }

    fn count(&self, outcome: &str) {
        self.requests
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Reads `before` and `service` from a query string; unknown parameters are refused so a
/// misspelt condition never widens a delete.
pub(crate) fn parse_request(raw: Option<&str>, now: u64) -> Result<DeleteRequest, String> {
    let mut request = DeleteRequest::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "before" => request.before = Some(parse_before(&v, now)?),
            "service" if !v.trim().is_empty() => request.service = Some(v.trim().to_string()),
            "service" => return Err("service must not be empty".to_string()),
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: a delete takes before and service"
                ));
            }
        }
    }
    if request.before.is_none() && request.service.is_none() {
        return Err("a delete needs before, service, or both".to_string());
    }
    Ok(request)
}

pub(crate) async fn delete(State(state): State<PurgeState>, RawQuery(raw): RawQuery) -> Response {
    let Some(purger) = state.purger.clone() else {
        state.count("unsupported");
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "this store cannot delete (the memory store); run with --storage disk",
        );
    };
    let request = match parse_request(raw.as_deref(), now_nanos()) {
        Ok(r) => r,
        Err(message) => {
            state.count("invalid");
            return error(StatusCode::BAD_REQUEST, &message);
        }
    };
    match purger.delete(request).await {
        Ok(report) => {
            state.count("ok");
            (StatusCode::OK, axum::Json(report)).into_response()
        }
        Err(e) => {
            let kind = e.kind();
            state.count(if kind == ErrorKind::InvalidInput {
                "invalid"
            } else {
                "failed"
            });
            let status = StatusCode::from_u16(kind.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000_000_000;

    #[test]
    fn before_is_a_time_or_an_age() {
        assert_eq!(
            parse_before("2027-01-15T08:00:00Z", NOW),
            Ok(1_800_000_000_000_000_000)
        );
        assert_eq!(
            parse_before("2027-01-15T10:00:00+02:00", NOW),
            Ok(1_800_000_000_000_000_000)
        );
        assert_eq!(parse_before("2h", NOW), Ok(NOW - 7_200_000_000_000));
        assert!(parse_before("yesterday", NOW).is_err());
        assert!(parse_before("", NOW).is_err());
    }

    #[test]
    fn requests_need_a_condition_and_refuse_unknown_parameters() {
        assert_eq!(
            parse_request(Some("service=a%20b"), NOW),
            Ok(DeleteRequest {
                before: None,
                service: Some("a b".into())
            })
        );
        assert_eq!(
            parse_request(Some("before=1h&service=x"), NOW),
            Ok(DeleteRequest {
                before: Some(NOW - 3_600_000_000_000),
                service: Some("x".into())
            })
        );
        assert!(parse_request(None, NOW).is_err());
        assert!(parse_request(Some("service="), NOW).is_err());
        assert!(parse_request(Some("services=x"), NOW).is_err());
        assert!(parse_request(Some("before=soon"), NOW).is_err());
    }
}
