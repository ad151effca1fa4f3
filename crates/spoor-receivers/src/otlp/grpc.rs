use std::net::SocketAddr;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use prost::Message;
use serde::Deserialize;
use spoor_model::ErrorKind;
use spoor_model::otlp_collector::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use spoor_telemetry::ReceiverMetrics;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::server::NamedService;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::prescan::{DecodeBudget, prescan_protobuf};
use super::signals_grpc::SignalServer;
use crate::body::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SPANS_PER_REQUEST};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver, bind_tcp};
use crate::ingest::deliver;
use crate::net::{ConnectionLimits, grpc_server, limited_incoming};
use crate::status::grpc_status;

/// OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` (and the
/// metrics and logs services' `Export`), gzip or zstd
/// compressed or not.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    pub endpoint: SocketAddr,
    /// Largest accepted message after decompression.
    pub max_recv_msg_size: usize,
    /// Most spans in one request; a larger request is refused before it is decoded.
    pub max_spans_per_request: usize,
    /// Connection limits and timeouts.
    pub connections: ConnectionLimits,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: SocketAddr::from(([0, 0, 0, 0], 4317)),
            max_recv_msg_size: DEFAULT_MAX_BODY_BYTES,
            max_spans_per_request: DEFAULT_MAX_SPANS_PER_REQUEST,
            connections: ConnectionLimits::default(),
        }
    }
}

impl OtlpGrpcConfig {
    pub const NAME: &'static str = "otlp-grpc";

    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        let (listener, local_addr) = bind_tcp(Self::NAME, self.endpoint).await?;
        let metrics = ctx.telemetry.receiver("otlp", "grpc");
        let budget = DecodeBudget::new(self.max_recv_msg_size, self.max_spans_per_request);
        let metrics_server = SignalServer::<ExportMetricsServiceRequest>::new(
            &ctx,
            &metrics,
            budget,
            self.max_recv_msg_size,
        );
        let logs_server = SignalServer::<ExportLogsServiceRequest>::new(
            &ctx,
            &metrics,
            budget,
            self.max_recv_msg_size,
        );
        let server = ExportServer {
            service: Arc::new(OtlpTraceService {
                metrics: metrics.clone(),
                ctx: ctx.clone(),
            }),
            budget: DecodeBudget::new(self.max_recv_msg_size, self.max_spans_per_request),
            max_recv_msg_size: self.max_recv_msg_size,
            metrics: metrics.clone(),
        };
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
                        oversize_is_resource_exhausted(response, &metrics)
                    },
                ))
                .add_service(server)
                .add_service(metrics_server)
                .add_service(logs_server)
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
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
pub(crate) fn oversize_is_resource_exhausted(
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

impl OtlpTraceService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let bytes = request.encoded_len() as u64;
        let delivered = deliver(
            &self.ctx,
            &self.metrics,
            request.resource_spans,
            bytes,
            true,
        )
        .await
        .map_err(|(kind, message)| grpc_status(kind, &message))?;
        let rejected = delivered.rejected;
        let partial_success = (rejected.rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected.rejected_spans as i64,
            error_message: rejected.first_reason.unwrap_or_default(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// `TraceService` served by hand rather than by the generated server, so that the request is
/// prescanned ([`prescan_protobuf`]) before prost decodes it.
#[derive(Clone)]
struct ExportServer {
    service: Arc<OtlpTraceService>,
    budget: DecodeBudget,
    max_recv_msg_size: usize,
    metrics: ReceiverMetrics,
}

impl NamedService for ExportServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl tower::Service<http::Request<tonic::body::Body>> for ExportServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            let status =
                tonic::Status::unimplemented(format!("no method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let codec = PrescanCodec {
            budget: self.budget,
            metrics: self.metrics.clone(),
        };
        let method = ExportMethod(self.service.clone());
        let mut grpc = tonic::server::Grpc::new(codec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_recv_msg_size);
        Box::pin(async move { Ok(grpc.unary(method, request).await) })
    }
}

struct ExportMethod(Arc<OtlpTraceService>);

impl tonic::server::UnaryService<ExportTraceServiceRequest> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<ExportTraceServiceRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.export(request).await })
    }
}

/// Prost's codec with a prescan before decoding.
struct PrescanCodec {
    budget: DecodeBudget,
    metrics: ReceiverMetrics,
}

impl Codec for PrescanCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = ExportTraceServiceRequest;
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = PrescanDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        PrescanDecoder {
            budget: self.budget,
            metrics: self.metrics.clone(),
        }
    }
}

struct PrescanDecoder {
    budget: DecodeBudget,
    metrics: ReceiverMetrics,
}

impl Decoder for PrescanDecoder {
    type Item = ExportTraceServiceRequest;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let wire_bytes = bytes.len() as u64;
        if let Err(e) = prescan_protobuf(&bytes, self.budget) {
            self.metrics.request_error(e.reason(), wire_bytes);
            let kind = e.kind();
            return Err(grpc_status(kind, &e.to_string()));
        }
        match ExportTraceServiceRequest::decode(bytes) {
            Ok(request) => Ok(Some(request)),
            Err(e) => {
                self.metrics.request_error("decode", wire_bytes);
                Err(grpc_status(
                    ErrorKind::InvalidInput,
                    &format!("invalid protobuf: {e}"),
                ))
            }
        }
    }
}
