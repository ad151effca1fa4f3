use axum::response::{IntoResponse, Response};
use http::StatusCode;
use spoor_model::ErrorKind;
use spoor_query::QueryError;

/// An API failure: a kind (which decides the status through [`ErrorKind::http_status`]) and a
/// message for the client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidInput,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Answered in the Jaeger envelope: `{"data":null,...,"errors":[{"code":400,"msg":"..."}]}`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self.message, "query failed");
        }
        let body = ErrorEnvelope {
            data: (),
            total: 0,
            limit: 0,
            offset: 0,
            errors: [ErrorEntry {
                code: status.as_u16(),
                msg: &self.message,
            }],
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Jaeger's error envelope, fields in Jaeger's order.
#[derive(serde::Serialize)]
struct ErrorEnvelope<'a> {
    data: (),
    total: usize,
    limit: usize,
    offset: usize,
    errors: [ErrorEntry<'a>; 1],
}

#[derive(serde::Serialize)]
struct ErrorEntry<'a> {
    code: u16,
    msg: &'a str,
}
