//! Protocol statuses for receiver errors, derived from [`ErrorKind`]'s single mapping.

use axum::response::{IntoResponse, Response};
use prost::Message;
use spoor_model::ErrorKind;

/// Seconds a client is asked to wait before retrying a retryable refusal.
pub const RETRY_AFTER_SECONDS: i64 = 1;

/// The gRPC status for an error kind. Retryable kinds carry a `google.rpc.RetryInfo` detail, which
/// OTLP exporters require before they retry RESOURCE_EXHAUSTED.
pub fn grpc_status(kind: ErrorKind, message: &str) -> tonic::Status {
    let code = tonic::Code::from_i32(kind.grpc_code());
    if !kind.retryable() {
        return tonic::Status::new(code, message.to_string());
    }
    let retry_info = RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: RETRY_AFTER_SECONDS,
            nanos: 0,
        }),
    };
    let details = RpcStatus {
        code: kind.grpc_code(),
        message: message.to_string(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: retry_info.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message.to_string(), details.encode_to_vec().into())
}

/// A plain-text HTTP error response for an error kind; overload answers carry `Retry-After`.
pub fn http_error(kind: ErrorKind, message: &str) -> Response {
    let status =
        http::StatusCode::from_u16(kind.http_status()).unwrap_or(http::StatusCode::BAD_REQUEST);
    let mut response = (status, format!("{message}\n")).into_response();
    if kind.retryable() {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}
