//! Remote sampling as Jaeger serves it: strategies from a Jaeger `sampling.json`, answered over
//! HTTP (`--sampling-http`, 5778: `/sampling?service=` and the agent's `/?service=`) and over
//! gRPC (`SamplingManager` on the Jaeger gRPC port, 14250). Clients (jaeger-client, the OTel
//! SDKs' Jaeger remote samplers) poll it and sample as told.

pub mod adaptive;
#[cfg(test)]
mod adaptive_tests;
mod grpc;
mod http;
mod provider;
mod strategies;
pub mod survival;
#[cfg(test)]
mod tests;

pub use adaptive::{AdaptiveConfig, AdaptiveConfigError};
pub use grpc::{SamplingGrpcConfig, SamplingService, proto, sampling_manager, to_proto};
pub use http::{MAX_SERVICE_NAME_BYTES, NoSpans, SamplingHttpConfig};
pub use provider::{ObservingSink, SamplingConfig, StrategyStore};
pub use strategies::{
    DEFAULT_SAMPLING_PROBABILITY, OperationSampling, Parsed, Strategies, StrategiesError,
    StrategyKind, StrategyResponse, parse,
};
