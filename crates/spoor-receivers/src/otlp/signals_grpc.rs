//! `MetricsService/Export` and `LogsService/Export` over gRPC, served by hand like
//! `TraceService` so that requests are prescanned before prost decodes them.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use spoor_model::ErrorKind;
use spoor_telemetry::{ReceiverMetrics, SignalMetrics};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::server::NamedService;

use super::prescan::DecodeBudget;
use super::signals::{SignalRequest, deliver_signal};
use crate::component::ReceiverContext;
use crate::status::grpc_status;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

struct Shared {
    ctx: ReceiverContext,
    metrics: ReceiverMetrics,
    counters: SignalMetrics,
}

/// The gRPC service of one signal.
pub(crate) struct SignalServer<R> {
    shared: Arc<Shared>,
    budget: DecodeBudget,
    max_recv_msg_size: usize,
    _request: PhantomData<fn() -> R>,
}

impl<R> Clone for SignalServer<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            budget: self.budget,
            max_recv_msg_size: self.max_recv_msg_size,
            _request: PhantomData,
        }
    }
}

impl<R: SignalRequest> SignalServer<R> {
    pub(crate) fn new(
        ctx: &ReceiverContext,
        metrics: &ReceiverMetrics,
        budget: DecodeBudget,
        max_recv_msg_size: usize,
    ) -> Self {
        let counters = ctx.telemetry.signal_receiver(R::KIND, "otlp", "grpc");
        Self {
            shared: Arc::new(Shared {
                ctx: ctx.clone(),
                metrics: metrics.clone(),
                counters,
            }),
            budget,
            max_recv_msg_size,
            _request: PhantomData,
        }
    }
}

impl<R: SignalRequest> NamedService for SignalServer<R> {
    const NAME: &'static str = R::GRPC_SERVICE;
}

impl<R: SignalRequest> tower::Service<http::Request<tonic::body::Body>> for SignalServer<R> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != R::GRPC_PATH {
            let status =
                tonic::Status::unimplemented(format!("no method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let codec = SignalCodec::<R> {
            budget: self.budget,
            metrics: self.shared.metrics.clone(),
            _request: PhantomData,
        };
        let method = ExportMethod::<R> {
            shared: self.shared.clone(),
            _request: PhantomData,
        };
        let mut grpc = tonic::server::Grpc::new(codec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_recv_msg_size);
        Box::pin(async move { Ok(grpc.unary(method, request).await) })
    }
}

struct ExportMethod<R> {
    shared: Arc<Shared>,
    _request: PhantomData<fn() -> R>,
}

impl<R: SignalRequest> tonic::server::UnaryService<R> for ExportMethod<R> {
    type Response = R::Response;
    type Future = BoxFuture<Result<tonic::Response<R::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<R>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let request = request.into_inner();
            let bytes = request.encoded_len() as u64;
            deliver_signal(
                &shared.ctx,
                &shared.metrics,
                &shared.counters,
                request.into_batch(),
                bytes,
            )
            .await
            .map_err(|(kind, message)| grpc_status(kind, &message))?;
            Ok(tonic::Response::new(R::Response::default()))
        })
    }
}

/// Prost's codec with the signal's prescan before decoding.
struct SignalCodec<R> {
    budget: DecodeBudget,
    metrics: ReceiverMetrics,
    _request: PhantomData<fn() -> R>,
}

impl<R: SignalRequest> Codec for SignalCodec<R> {
    type Encode = R::Response;
    type Decode = R;
    type Encoder = tonic_prost::ProstEncoder<R::Response>;
    type Decoder = SignalDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        SignalDecoder {
            budget: self.budget,
            metrics: self.metrics.clone(),
            _request: PhantomData,
        }
    }
}

struct SignalDecoder<R> {
    budget: DecodeBudget,
    metrics: ReceiverMetrics,
    _request: PhantomData<fn() -> R>,
}

impl<R: SignalRequest> Decoder for SignalDecoder<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<R>, tonic::Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let wire_bytes = bytes.len() as u64;
        if let Err(e) = R::prescan_protobuf(&bytes, self.budget) {
            self.metrics.request_error(e.reason(), wire_bytes);
            return Err(grpc_status(e.kind(), &e.to_string()));
        }
        match R::decode(bytes) {
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
