//! Protocol statuses for receiver errors, derived from [`ErrorKind`]'s single mapping.

use axum::response::{IntoResponse, Response};
use spoor_model::ErrorKind;

/// The gRPC status for an error kind.
pub fn grpc_status(kind: ErrorKind, message: &str) -> tonic::Status {
    tonic::Status::new(tonic::Code::from_i32(kind.grpc_code()), message.to_string())
}

/// A plain-text HTTP error response for an error kind; overload answers carry `Retry-After`.
pub fn http_error(kind: ErrorKind, message: &str) -> Response {
    let status =
        http::StatusCode::from_u16(kind.http_status()).unwrap_or(http::StatusCode::BAD_REQUEST);
    let mut response = (status, format!("{message}\n")).into_response();
    if kind.retryable() {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}
