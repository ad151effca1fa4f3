//! The Zipkin HTTP receiver (9411).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use spoor_model::ErrorKind;
use spoor_telemetry::ReceiverMetrics;

use super::json::{ZipkinError, decode_v1_json, decode_v2_json};
use super::model::{ZipkinSpan, spans_to_otlp};
use super::proto::decode_v2_proto;
use super::thrift::decode_v1_thrift;
use crate::body::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST, decode_body};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::ingest::{WarnLimiter, deliver};
use crate::net::{ConnectionLimits, cors_layer, serve_http};
use crate::otlp::{DecodeBudget, prescan_zipkin_json, prescan_zipkin_proto};
use crate::status::http_error;

/// Zipkin HTTP: `POST /api/v2/spans` (JSON or `application/x-protobuf`) and `POST /api/v1/spans`
/// (JSON or `application/x-thrift`), gzip accepted, answered 202 Accepted. Browser tracers can
/// post from the origins in `cors_allowed_origins` (none by default). The context's
/// `zipkin_routes` (Zipkin's `GET /api/v2/*` reads) are served on the same port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted body after decompression.
    pub max_request_body_size: usize,
    /// Most spans in one request; a larger protobuf request is refused before it is decoded.
    pub max_spans_per_request: usize,
    /// Origins allowed to post from a browser (`*` for any); empty: no CORS.
    pub cors_allowed_origins: Vec<String>,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 9411)),
            max_request_body_size: DEFAULT_MAX_BODY_BYTES,
            max_spans_per_request: DEFAULT_MAX_SPANS_PER_REQUEST,
            cors_allowed_origins: Vec::new(),
            connections: ConnectionLimits::default(),
        }
    }
}

impl ZipkinConfig {
    pub const NAME: &'static str = "zipkin";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let metrics = ctx.telemetry.receiver("zipkin", "http");
        let state = HttpState {
            metrics: metrics.clone(),
            limit: self.max_request_body_size,
            budget: DecodeBudget::new(self.max_request_body_size, self.max_spans_per_request),
            limiter: WarnLimiter::default(),
            ctx: ctx.clone(),
        };
        let mut router = Router::new()
            .route("/api/v2/spans", post(post_v2))
            .route("/api/v1/spans", post(post_v1))
            .layer(DefaultBodyLimit::max(self.max_request_body_size))
            .with_state(state);
        if let Some(reads) = ctx.zipkin_routes.clone() {
            router = router.merge(reads);
        }
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
struct HttpState {
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
    limit: usize,
    budget: DecodeBudget,
    limiter: WarnLimiter,
}

type Decoder = fn(&[u8]) -> Result<Vec<ZipkinSpan>, ZipkinError>;

/// The body's encoding, for the prescan before decoding (thrift lists carry their length and
/// are checked against the body by the thrift reader).
#[derive(Clone, Copy)]
enum Format {
    Json,
    Protobuf,
    Thrift,
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

async fn post_v2(
    state: State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Zipkin treats a missing content type as JSON.
    let decoder: Option<(Decoder, Format)> = match media_type(&headers).as_str() {
        "" | "application/json" => Some((decode_v2_json, Format::Json)),
        "application/x-protobuf" | "application/protobuf" => {
            Some((decode_v2_proto, Format::Protobuf))
        }
        _ => None,
    };
    handle(
        state,
        headers,
        body,
        decoder,
        "application/json or application/x-protobuf",
    )
    .await
}

async fn post_v1(
    state: State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let decoder: Option<(Decoder, Format)> = match media_type(&headers).as_str() {
        "" | "application/json" => Some((decode_v1_json, Format::Json)),
        "application/x-thrift" | "application/vnd.apache.thrift.binary" => {
            Some((decode_v1_thrift, Format::Thrift))
        }
        _ => None,
    };
    handle(
        state,
        headers,
        body,
        decoder,
        "application/json or application/x-thrift",
    )
    .await
}

async fn handle(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    decoder: Option<(Decoder, Format)>,
    supported: &str,
) -> Response {
    let name = ZipkinConfig::NAME;
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            state.metrics.request_error("too_large", 0);
            state
                .limiter
                .warn(name, "too_large", &rejection.body_text());
            return (rejection.status(), format!("{}\n", rejection.body_text())).into_response();
        }
    };
    let wire_bytes = body.len() as u64;
    let Some((decoder, format)) = decoder else {
        let media = media_type(&headers);
        state
            .metrics
            .request_error("unsupported_media_type", wire_bytes);
        state.limiter.warn(name, "unsupported_media_type", &media);
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-type {media:?}: use {supported}\n"),
        )
            .into_response();
    };
    let body = match decode_body(&headers, body, state.limit) {
        Ok(b) => b,
        Err(e) => {
            state.metrics.request_error(e.reason(), wire_bytes);
            state.limiter.warn(name, e.reason(), &e);
            return http_error(e.kind(), &e.to_string());
        }
    };
    let scanned = match format {
        Format::Protobuf => prescan_zipkin_proto(&body, state.budget),
        Format::Json => prescan_zipkin_json(&body, state.budget),
        Format::Thrift => Ok(Default::default()),
    };
    if let Err(e) = scanned {
        state.metrics.request_error(e.reason(), wire_bytes);
        state.limiter.warn(name, e.reason(), &e);
        let kind = e.kind();
        return http_error(kind, &e.to_string());
    }
    let spans = match decoder(&body) {
        Ok(s) => s,
        Err(e) => {
            state.metrics.request_error("decode", wire_bytes);
            state.limiter.warn(name, "decode", &e);
            return http_error(ErrorKind::InvalidInput, &e.to_string());
        }
    };
    match deliver(
        &state.ctx,
        &state.metrics,
        spans_to_otlp(spans),
        wire_bytes,
        true,
    )
    .await
    {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err((kind, message)) => http_error(kind, &message),
    }
}
