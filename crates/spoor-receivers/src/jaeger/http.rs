//! Jaeger collector HTTP: `POST /api/traces` with a thrift binary `Batch`
//! (`application/x-thrift`, or `?format=jaeger.thrift`), answered 202 Accepted like Jaeger.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use spoor_model::ErrorKind;
use spoor_telemetry::ReceiverMetrics;

use super::model::batch_to_otlp;
use super::thrift::decode_batch_within;
use crate::body::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST, decode_body};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::ingest::{WarnLimiter, deliver};
use crate::net::{ConnectionLimits, serve_http};
use crate::otlp::DecodeBudget;
use crate::status::http_error;
use crate::thrift::Protocol;
use crate::thrift::ThriftError;

/// Jaeger collector HTTP thrift endpoint (14268).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerThriftHttpConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted body after decompression.
    pub max_request_body_size: usize,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
}

impl Default for JaegerThriftHttpConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 14268)),
            max_request_body_size: DEFAULT_MAX_BODY_BYTES,
            connections: ConnectionLimits::default(),
        }
    }
}

impl JaegerThriftHttpConfig {
    pub const NAME: &'static str = "jaeger-thrift-http";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let metrics = ctx.telemetry.receiver("jaeger", "http");
        let state = HttpState {
            metrics: metrics.clone(),
            limit: self.max_request_body_size,
            limiter: WarnLimiter::default(),
            ctx: ctx.clone(),
        };
        let router = Router::new()
            .route("/api/traces", post(post_traces))
            .layer(DefaultBodyLimit::max(self.max_request_body_size))
            .with_state(state);
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
    limiter: WarnLimiter,
}

const THRIFT_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

async fn post_traces(
    State(state): State<HttpState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let name = JaegerThriftHttpConfig::NAME;
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
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = params.get("format").map(String::as_str);
    if !THRIFT_TYPES.contains(&media.as_str()) && format != Some("jaeger.thrift") {
        state
            .metrics
            .request_error("unsupported_media_type", wire_bytes);
        state.limiter.warn(name, "unsupported_media_type", &media);
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content-type {media:?}: use application/x-thrift\n"),
        )
            .into_response();
    }
    if let Some(f) = format.filter(|f| *f != "jaeger.thrift") {
        state
            .metrics
            .request_error("unsupported_format", wire_bytes);
        return http_error(
            ErrorKind::InvalidInput,
            &format!("unsupported format {f:?}"),
        );
    }
    let body = match decode_body(&headers, body, state.limit) {
        Ok(b) => b,
        Err(e) => {
            state.metrics.request_error(e.reason(), wire_bytes);
            state.limiter.warn(name, e.reason(), &e);
            return http_error(e.kind(), &e.to_string());
        }
    };
    let budget = DecodeBudget::new(state.limit, DEFAULT_MAX_SPANS_PER_REQUEST);
    let batch = match decode_batch_within(&body, Protocol::Binary, budget.max_decoded_bytes) {
        Ok(b) => b,
        Err(e @ ThriftError::TooLarge { .. }) => {
            state.metrics.request_error("decoded_too_large", wire_bytes);
            state.limiter.warn(name, "decoded_too_large", &e);
            return http_error(ErrorKind::TooLarge, &e.to_string());
        }
        Err(e) => {
            state.metrics.request_error("decode", wire_bytes);
            state.limiter.warn(name, "decode", &e);
            return http_error(
                ErrorKind::InvalidInput,
                &format!("cannot decode thrift batch: {e}"),
            );
        }
    };
    match deliver(
        &state.ctx,
        &state.metrics,
        batch_to_otlp(batch),
        wire_bytes,
        true,
    )
    .await
    {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err((kind, message)) => http_error(kind, &message),
    }
}
