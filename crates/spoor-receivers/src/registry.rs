use crate::component::{ReceiverContext, ReceiverError, RunningReceiver};
use crate::otlp::{OtlpGrpcConfig, OtlpHttpConfig};

/// The registry of receivers: every receiver Spoor has is one variant here, built by one arm of
/// [`ReceiverConfig::build`]. Nothing registers itself anywhere else.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// OTLP gRPC (4317).
    OtlpGrpc(OtlpGrpcConfig),
    /// OTLP HTTP, protobuf and JSON (4318).
    OtlpHttp(OtlpHttpConfig),
}

impl ReceiverConfig {
    /// The listener name used in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ReceiverConfig::OtlpGrpc(_) => OtlpGrpcConfig::NAME,
            ReceiverConfig::OtlpHttp(_) => OtlpHttpConfig::NAME,
        }
    }

    /// Binds the listener and starts serving.
    pub async fn build(&self, ctx: ReceiverContext) -> Result<RunningReceiver, ReceiverError> {
        match self {
            ReceiverConfig::OtlpGrpc(c) => c.build(ctx).await,
            ReceiverConfig::OtlpHttp(c) => c.build(ctx).await,
        }
    }
}
