use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::jaeger::{
    JaegerGrpcConfig, JaegerThriftBinaryConfig, JaegerThriftCompactConfig, JaegerThriftHttpConfig,
};
use crate::otlp::{OtlpGrpcConfig, OtlpHttpConfig};
use crate::zipkin::ZipkinConfig;

/// The registry of receivers: every receiver Spoor has is one variant here, built by one arm of
/// [`ReceiverConfig::build`]. Nothing registers itself anywhere else.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// OTLP gRPC (4317).
    OtlpGrpc(OtlpGrpcConfig),
    /// OTLP HTTP, protobuf and JSON (4318).
    OtlpHttp(OtlpHttpConfig),
    /// Jaeger agent UDP, thrift compact `Agent.emitBatch` (6831).
    JaegerThriftCompact(JaegerThriftCompactConfig),
    /// Jaeger agent UDP, thrift binary `Agent.emitBatch` (6832).
    JaegerThriftBinary(JaegerThriftBinaryConfig),
    /// Jaeger collector HTTP, `POST /api/traces` thrift `Batch` (14268).
    JaegerThriftHttp(JaegerThriftHttpConfig),
    /// Jaeger collector gRPC, `api_v2.CollectorService/PostSpans` (14250).
    JaegerGrpc(JaegerGrpcConfig),
    /// Zipkin HTTP, `/api/v1/spans` and `/api/v2/spans` (9411).
    Zipkin(ZipkinConfig),
}

impl ReceiverConfig {
    /// The listener name used in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ReceiverConfig::OtlpGrpc(_) => OtlpGrpcConfig::NAME,
            ReceiverConfig::OtlpHttp(_) => OtlpHttpConfig::NAME,
            ReceiverConfig::JaegerThriftCompact(_) => JaegerThriftCompactConfig::NAME,
            ReceiverConfig::JaegerThriftBinary(_) => JaegerThriftBinaryConfig::NAME,
            ReceiverConfig::JaegerThriftHttp(_) => JaegerThriftHttpConfig::NAME,
            ReceiverConfig::JaegerGrpc(_) => JaegerGrpcConfig::NAME,
            ReceiverConfig::Zipkin(_) => ZipkinConfig::NAME,
        }
    }

    /// Binds the listener and starts serving.
    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        match self {
            ReceiverConfig::OtlpGrpc(c) => c.build(ctx).await,
            ReceiverConfig::OtlpHttp(c) => c.build(ctx).await,
            ReceiverConfig::JaegerThriftCompact(c) => c.build(ctx).await,
            ReceiverConfig::JaegerThriftBinary(c) => c.build(ctx).await,
            ReceiverConfig::JaegerThriftHttp(c) => c.build(ctx).await,
            ReceiverConfig::JaegerGrpc(c) => c.build(ctx).await,
            ReceiverConfig::Zipkin(c) => c.build(ctx).await,
        }
    }
}
