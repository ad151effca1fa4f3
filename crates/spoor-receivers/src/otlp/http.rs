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
use spoor_model::ErrorKind;
use spoor_model::otlp_collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_telemetry::ReceiverMetrics;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use spoor_telemetry::{SignalKind, SignalMetrics};

use super::prescan::{DecodeBudget, Prescan, PrescanError, prescan_json, prescan_protobuf};
use super::signals_http::export_signal;
use crate::body::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST, decode_body};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::ingest::deliver;
use crate::net::{ConnectionLimits, cors_layer, serve_http};
use crate::status::RpcStatus;
use spoor_model::otlp_json::decode_json_request;

/// OTLP over HTTP: `POST /v1/traces` (and `/v1/metrics`, `/v1/logs`) with `application/x-protobuf` or `application/json`,
/// optionally gzip/deflate compressed, answered in the request's encoding. Browser SDKs can post
/// from the origins in `cors_allowed_origins` (none by default).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted body after decompression.
    pub max_request_body_size: usize,
    /// Most spans in one request; a larger request is refused before it is decoded.
    pub max_spans_per_request: usize,
    /// Origins allowed to post from a browser (`*` for any); empty: no CORS.
    pub cors_allowed_origins: Vec<String>,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 4318)),
            max_request_body_size: DEFAULT_MAX_BODY_BYTES,
            max_spans_per_request: DEFAULT_MAX_SPANS_PER_REQUEST,
            cors_allowed_origins: Vec::new(),
            connections: ConnectionLimits::default(),
        }
    }
}

impl OtlpHttpConfig {
    pub const NAME: &'static str = "otlp-http";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let metrics = ctx.telemetry.receiver("otlp", "http");
        let state = HttpState {
            metrics: metrics.clone(),
            metric_points: ctx
                .telemetry
                .signal_receiver(SignalKind::Metrics, "otlp", "http"),
            log_records: ctx
                .telemetry
                .signal_receiver(SignalKind::Logs, "otlp", "http"),
            limit: self.max_request_body_size,
            budget: DecodeBudget::new(self.max_request_body_size, self.max_spans_per_request),
            ctx: ctx.clone(),
        };
        let mut router = Router::new()
            .route("/v1/traces", post(export))
            .route(
                "/v1/metrics",
                post(export_signal::<ExportMetricsServiceRequest>),
            )
            .route("/v1/logs", post(export_signal::<ExportLogsServiceRequest>))
            .layer(DefaultBodyLimit::max(self.max_request_body_size))
            .with_state(state);
        if let Some(cors) = cors_layer(&self.cors_allowed_origins) {
            router = router.layer(cors);
        }
        serve_http(
            Self::NAME,
            self.endpoint,
            router,
            &ctx,
            self.connections.clone(),
            self.max_request_body_size,
            metrics,
        )
        .await
    }
}

#[derive(Clone)]
pub(super) struct HttpState {
    pub(super) ctx: ReceiverContext,
    pub(super) metrics: ReceiverMetrics,
    pub(super) metric_points: SignalMetrics,
    pub(super) log_records: SignalMetrics,
    limit: usize,
    budget: DecodeBudget,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Encoding {
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
    let (encoding, body, wire_bytes) =
        match read_body(&state, &headers, body, prescan_protobuf, prescan_json) {
            Ok(read) => read,
            Err(response) => return *response,
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
    let delivered = match deliver(
        &state.ctx,
        &state.metrics,
        request.resource_spans,
        wire_bytes,
        true,
    )
    .await
    {
        Ok(d) => d,
        Err((kind, message)) => return status_response(encoding, kind, &message),
    };
    let rejected = delivered.rejected;
    let response = ExportTraceServiceResponse {
        partial_success: (rejected.rejected_spans > 0).then(|| {
            spoor_model::otlp_collector::ExportTracePartialSuccess {
                rejected_spans: rejected.rejected_spans as i64,
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

type Prescanner = fn(&[u8], DecodeBudget) -> Result<Prescan, PrescanError>;

/// The part every OTLP/HTTP signal shares: the encoding from the content type, decompression
/// within the limit, and the prescan; a failure is answered and counted here.
pub(super) fn read_body(
    state: &HttpState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    protobuf: Prescanner,
    json: Prescanner,
) -> Result<(Encoding, Bytes, u64), Box<Response>> {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            state.metrics.request_error("too_large", 0);
            let response =
                (rejection.status(), format!("{}\n", rejection.body_text())).into_response();
            return Err(Box::new(response));
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
            let response = (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content-type {content_type:?}: use application/x-protobuf or application/json\n"
                ),
            )
                .into_response();
            return Err(Box::new(response));
        }
    };
    let body = match decode_body(headers, body, state.limit) {
        Ok(b) => b,
        Err(e) => {
            state.metrics.request_error(e.reason(), wire_bytes);
            return Err(Box::new(status_response(
                encoding,
                e.kind(),
                &e.to_string(),
            )));
        }
    };
    let scanned = match encoding {
        Encoding::Protobuf => protobuf(&body, state.budget),
        Encoding::Json => json(&body, state.budget),
    };
    if let Err(e) = scanned {
        state.metrics.request_error(e.reason(), wire_bytes);
        return Err(Box::new(status_response(
            encoding,
            e.kind(),
            &e.to_string(),
        )));
    }
    Ok((encoding, body, wire_bytes))
}

/// An error answered as a `google.rpc.Status` in the request's encoding, as OTLP/HTTP requires.
pub(super) fn status_response(encoding: Encoding, kind: ErrorKind, message: &str) -> Response {
    let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = match encoding {
        Encoding::Protobuf => RpcStatus {
            code: kind.grpc_code(),
            message: message.to_string(),
            details: Vec::new(),
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

pub(super) fn with_content_type(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}
