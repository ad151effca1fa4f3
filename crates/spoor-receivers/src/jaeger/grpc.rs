//! Jaeger collector gRPC: `jaeger.api_v2.CollectorService/PostSpans` (14250).

use std::net::SocketAddr;

use serde::Deserialize;
use spoor_model::ErrorKind;
use spoor_telemetry::ReceiverMetrics;
use tonic::codec::CompressionEncoding;

use super::codec::PRESCAN_REFUSAL;
use super::model::batch_to_otlp;
use super::proto::api_v2::collector_service_server::{CollectorService, CollectorServiceServer};
use super::proto::api_v2::{PostSpansRequest, PostSpansResponse};
use super::proto::batch_from_proto;
use crate::body::DEFAULT_MAX_BODY_BYTES;
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver, bind_tcp};
use crate::ingest::{WarnLimiter, deliver};
use crate::net::{ConnectionLimits, grpc_server, limited_incoming};
use crate::otlp::oversize_is_resource_exhausted;
use crate::status::grpc_status;

/// Jaeger collector gRPC endpoint, gzip compressed or not.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerGrpcConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted message after decompression.
    pub max_recv_msg_size: usize,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
}

impl Default for JaegerGrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 14250)),
            max_recv_msg_size: DEFAULT_MAX_BODY_BYTES,
            connections: ConnectionLimits::default(),
        }
    }
}

impl JaegerGrpcConfig {
    pub const NAME: &'static str = "jaeger-grpc";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let (listener, local_addr) = bind_tcp(Self::NAME, self.endpoint).await?;
        let metrics = ctx.telemetry.receiver("jaeger", "grpc");
        let service = JaegerCollector {
            metrics: metrics.clone(),
            limiter: WarnLimiter::default(),
            ctx: ctx.clone(),
        };
        let server = CollectorServiceServer::new(service)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_recv_msg_size);
        let sampling = ctx.sampling.clone().map(crate::sampling::sampling_manager);
        let shutdown = ctx.shutdown.clone();
        let incoming = limited_incoming(
            Self::NAME,
            listener,
            self.connections.clone(),
            metrics.clone(),
        )?;
        let builder = grpc_server(&ctx, &self.connections, metrics.clone());
        let task = tokio::spawn(async move {
            let result = builder
                .layer(tower::util::MapResponseLayer::new(
                    move |response: http::Response<tonic::body::Body>| {
                        count_prescan_refusal(&response, &metrics);
                        oversize_is_resource_exhausted(response, &metrics)
                    },
                ))
                .add_service(server)
                .add_optional_service(sampling)
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await;
            if let Err(e) = result {
                tracing::error!(receiver = Self::NAME, error = %e, "grpc server failed");
            }
        });
        Ok(RunningReceiver::new(Self::NAME, local_addr, task))
    }
}

/// Counts a request the codec refused before decoding (`reason="too_many_spans"` or
/// `"decoded_too_large"`); the codec has no metrics handle.
fn count_prescan_refusal(response: &http::Response<tonic::body::Body>, metrics: &ReceiverMetrics) {
    let Some(message) = response
        .headers()
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if !message.contains("refused%20before%20decoding") && !message.contains(PRESCAN_REFUSAL) {
        return;
    }
    let reason = if message.contains("spans") {
        "too_many_spans"
    } else {
        "decoded_too_large"
    };
    metrics.request_error(reason, 0);
}

struct JaegerCollector {
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
    limiter: WarnLimiter,
}

#[tonic::async_trait]
impl CollectorService for JaegerCollector {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        let request = request.into_inner();
        let bytes = prost::Message::encoded_len(&request) as u64;
        let Some(batch) = request.batch else {
            return Ok(tonic::Response::new(PostSpansResponse {}));
        };
        let batch = match batch_from_proto(batch) {
            Ok(b) => b,
            Err(e) => {
                self.metrics.request_error("decode", bytes);
                self.limiter.warn(JaegerGrpcConfig::NAME, "decode", &e);
                return Err(grpc_status(ErrorKind::InvalidInput, &e.to_string()));
            }
        };
        match deliver(&self.ctx, &self.metrics, batch_to_otlp(batch), bytes, true).await {
            Ok(_) => Ok(tonic::Response::new(PostSpansResponse {})),
            Err((kind, message)) => Err(grpc_status(kind, &message)),
        }
    }
}
