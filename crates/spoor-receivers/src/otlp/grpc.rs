use std::net::SocketAddr;

use prost::Message;
use serde::Deserialize;
use spoor_model::otlp_collector::trace_service_server::{TraceService, TraceServiceServer};
use spoor_model::otlp_collector::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use spoor_model::{ErrorKind, span_count};
use spoor_telemetry::ReceiverMetrics;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;

use super::validate::drop_invalid_spans;
use crate::body::DEFAULT_MAX_BODY_BYTES;
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver, bind_tcp};
use crate::status::grpc_status;

/// OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip or zstd
/// compressed or not.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted message after decompression.
    pub max_recv_msg_size: usize,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 4317)),
            max_recv_msg_size: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl OtlpGrpcConfig {
    pub const NAME: &'static str = "otlp-grpc";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let (listener, local_addr) = bind_tcp(Self::NAME, self.endpoint).await?;
        let service = OtlpTraceService {
            metrics: ctx.telemetry.receiver("otlp", "grpc"),
            ctx: ctx.clone(),
        };
        let server = TraceServiceServer::new(service)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_recv_msg_size);
        let shutdown = ctx.shutdown.clone();
        let size_metrics = ctx.telemetry.receiver("otlp", "grpc");
        let task = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .layer(tower::util::MapResponseLayer::new(
                    move |response: http::Response<tonic::body::Body>| {
                        oversize_is_resource_exhausted(response, &size_metrics)
                    },
                ))
                .add_service(server)
                .serve_with_incoming_shutdown(
                    TcpListenerStream::new(listener),
                    shutdown.cancelled_owned(),
                )
                .await;
            if let Err(e) = result {
                tracing::error!(receiver = Self::NAME, error = %e, "grpc server failed");
            }
        });
        Ok(RunningReceiver::new(Self::NAME, local_addr, task))
    }
}

/// tonic refuses a message over `max_decoding_message_size` with OUT_OF_RANGE before our
/// handler runs; OTLP clients expect RESOURCE_EXHAUSTED for a too-large request. The response is
/// trailers-only, so the status is a header here.
fn oversize_is_resource_exhausted(
    mut response: http::Response<tonic::body::Body>,
    metrics: &ReceiverMetrics,
) -> http::Response<tonic::body::Body> {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if response
        .headers()
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        let code = ErrorKind::TooLarge.grpc_code().to_string();
        if let Ok(value) = http::HeaderValue::from_str(&code) {
            response.headers_mut().insert("grpc-status", value);
        }
        metrics.request_error("too_large", 0);
    }
    response
}

struct OtlpTraceService {
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
}

#[tonic::async_trait]
impl TraceService for OtlpTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let bytes = request.encoded_len() as u64;
        let mut batch = request.resource_spans;
        let total = span_count(&batch) as u64;
        self.metrics.received(total, bytes);
        let rejected = drop_invalid_spans(&mut batch);
        if rejected.spans > 0 {
            self.metrics.refused(rejected.spans);
            self.metrics.request_error("invalid_span", 0);
        }
        let accepted = total - rejected.spans;
        if accepted > 0 {
            if let Err(e) = self.ctx.sink.consume(batch).await {
                self.metrics.refused(accepted);
                self.metrics.request_error(e.kind.as_str(), 0);
                return Err(grpc_status(e.kind, &e.message));
            }
            self.metrics.accepted(accepted);
        }
        let partial_success = (rejected.spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected.spans as i64,
            error_message: rejected.first_reason.unwrap_or_default(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}
