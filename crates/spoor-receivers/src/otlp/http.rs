use std::net::SocketAddr;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message;
use serde::Deserialize;
use spoor_model::otlp_collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_model::{ErrorKind, span_count};
use spoor_telemetry::ReceiverMetrics;
use tower_http::cors::CorsLayer;

use super::validate::drop_invalid_spans;
use crate::body::{DEFAULT_MAX_BODY_BYTES, decode_body};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver, serve_http};
use spoor_model::otlp_json::decode_json_request;

/// OTLP over HTTP: `POST /v1/traces` with `application/x-protobuf` or `application/json`,
/// optionally gzip/deflate compressed, answered in the request's encoding. CORS is open so
/// browser SDKs can post.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted body after decompression.
    pub max_request_body_size: usize,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 4318)),
            max_request_body_size: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl OtlpHttpConfig {
    pub const NAME: &'static str = "otlp-http";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let state = HttpState {
            metrics: ctx.telemetry.receiver("otlp", "http"),
            limit: self.max_request_body_size,
            ctx: ctx.clone(),
        };
        let router = Router::new()
            .route("/v1/traces", post(export))
            .layer(DefaultBodyLimit::max(self.max_request_body_size))
            .layer(CorsLayer::permissive())
            .with_state(state);
        serve_http(Self::NAME, self.endpoint, router, &ctx).await
    }
}

#[derive(Clone)]
struct HttpState {
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
    limit: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

async fn export(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            state.metrics.request_error("too_large", 0);
            return (rejection.status(), format!("{}\n", rejection.body_text())).into_response();
        }
    };
    let wire_bytes = body.len() as u64;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let encoding = match media.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            state
                .metrics
                .request_error("unsupported_media_type", wire_bytes);
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content-type {content_type:?}: use application/x-protobuf or application/json\n"
                ),
            )
                .into_response();
        }
    };
    let body = match decode_body(&headers, body, state.limit) {
        Ok(b) => b,
        Err(e) => {
            state.metrics.request_error(e.reason(), wire_bytes);
            return status_response(encoding, e.kind(), &e.to_string());
        }
    };
    let request = match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|e| format!("invalid protobuf: {e}"))
        }
        Encoding::Json => decode_json_request(&body),
    };
    let request = match request {
        Ok(r) => r,
        Err(message) => {
            state.metrics.request_error("decode", wire_bytes);
            return status_response(encoding, ErrorKind::InvalidInput, &message);
        }
    };
    let mut batch = request.resource_spans;
    let total = span_count(&batch) as u64;
    state.metrics.received(total, wire_bytes);
    let rejected = drop_invalid_spans(&mut batch);
    if rejected.spans > 0 {
        state.metrics.refused(rejected.spans);
        state.metrics.request_error("invalid_span", 0);
    }
    let accepted = total - rejected.spans;
    if accepted > 0 {
        if let Err(e) = state.ctx.sink.consume(batch).await {
            state.metrics.refused(accepted);
            state.metrics.request_error(e.kind.as_str(), 0);
            return status_response(encoding, e.kind, &e.message);
        }
        state.metrics.accepted(accepted);
    }
    let response = ExportTraceServiceResponse {
        partial_success: (rejected.spans > 0).then(|| {
            spoor_model::otlp_collector::ExportTracePartialSuccess {
                rejected_spans: rejected.spans as i64,
                error_message: rejected.first_reason.clone().unwrap_or_default(),
            }
        }),
    };
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            let value = match &response.partial_success {
                None => serde_json::json!({}),
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
            };
            value.to_string().into_bytes()
        }
    };
    with_content_type(StatusCode::OK, encoding, body)
}

/// An error answered as a `google.rpc.Status` in the request's encoding, as OTLP/HTTP requires.
fn status_response(encoding: Encoding, kind: ErrorKind, message: &str) -> Response {
    let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = match encoding {
        Encoding::Protobuf => RpcStatus {
            code: kind.grpc_code(),
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": kind.grpc_code(), "message": message})
            .to_string()
            .into_bytes(),
    };
    let mut response = with_content_type(status, encoding, body);
    if kind.retryable() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn with_content_type(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

/// `google.rpc.Status` without details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}
