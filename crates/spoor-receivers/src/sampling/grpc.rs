//! Jaeger's gRPC sampling service (`jaeger.api_v2.SamplingManager/GetSamplingStrategy`), served
//! beside `CollectorService` on the Jaeger gRPC port.

use std::sync::Arc;

use super::StrategyStore;
use super::http::service_name;
use super::strategies::{StrategyKind, StrategyResponse};

/// Generated from `proto/jaeger/api_v2/sampling.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/sampling/jaeger.api_v2.rs"));
}

use proto::sampling_manager_server::{SamplingManager, SamplingManagerServer};

/// The tonic service for `store`.
pub fn sampling_manager(store: Arc<StrategyStore>) -> SamplingManagerServer<SamplingService> {
    SamplingManagerServer::new(SamplingService { store })
}

pub struct SamplingService {
    store: Arc<StrategyStore>,
}

#[tonic::async_trait]
impl SamplingManager for SamplingService {
    async fn get_sampling_strategy(
        &self,
        request: tonic::Request<proto::SamplingStrategyParameters>,
    ) -> Result<tonic::Response<proto::SamplingStrategyResponse>, tonic::Status> {
        let name = request.into_inner().service_name;
        match service_name(&[name.as_str()]) {
            Ok(service) => {
                self.store.count_request("grpc", "ok");
                Ok(tonic::Response::new(to_proto(&self.store.strategy_of(
                    crate::tenant::current().as_ref().map(|s| &*s.tenant),
                    &service,
                ))))
            }
            Err(why) => {
                self.store.count_request("grpc", "bad_request");
                Err(tonic::Status::invalid_argument(why))
            }
        }
    }
}

/// The protobuf form of a strategy response.
pub fn to_proto(r: &StrategyResponse) -> proto::SamplingStrategyResponse {
    let mut out = proto::SamplingStrategyResponse::default();
    match r.kind {
        StrategyKind::Probabilistic(p) => {
            out.strategy_type = proto::SamplingStrategyType::Probabilistic as i32;
            out.probabilistic_sampling =
                Some(proto::ProbabilisticSamplingStrategy { sampling_rate: p });
        }
        StrategyKind::RateLimiting(rate) => {
            out.strategy_type = proto::SamplingStrategyType::RateLimiting as i32;
            out.rate_limiting_sampling = Some(proto::RateLimitingSamplingStrategy {
                max_traces_per_second: rate,
            });
        }
    }
    out.operation_sampling = r
        .operations
        .as_ref()
        .map(|o| proto::PerOperationSamplingStrategies {
            default_sampling_probability: o.default_probability,
            default_lower_bound_traces_per_second: o.default_lower_bound_traces_per_second,
            per_operation_strategies: o
                .per_operation
                .iter()
                .map(|(op, p)| proto::OperationSamplingStrategy {
                    operation: op.clone(),
                    probabilistic_sampling: Some(proto::ProbabilisticSamplingStrategy {
                        sampling_rate: *p,
                    }),
                })
                .collect(),
            default_upper_bound_traces_per_second: o.default_upper_bound_traces_per_second,
        });
    out
}

/// A gRPC listener serving only `SamplingManager` (the `jaeger_remote_sampling` extension's
/// `grpc.endpoint` when no Jaeger receiver listens there).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingGrpcConfig {
    pub endpoint: std::net::SocketAddr,
    pub connections: crate::net::ConnectionLimits,
}

impl SamplingGrpcConfig {
    pub const NAME: &'static str = "sampling-grpc";

    /// Starts serving `store`'s strategies (the context's sink is never called).
    pub async fn serve(
        &self,
        ctx: &crate::component::ReceiverContext,
        store: Arc<StrategyStore>,
    ) -> Result<crate::component::RunningReceiver, crate::component::ReceiverError> {
        let (listener, local_addr) = crate::component::bind_tcp(Self::NAME, self.endpoint).await?;
        let metrics = ctx.telemetry.receiver("sampling", "grpc");
        let incoming = crate::net::limited_incoming(
            Self::NAME,
            listener,
            self.connections.clone(),
            metrics.clone(),
        )?;
        let mut builder = crate::net::grpc_server(ctx, &self.connections, metrics);
        let shutdown = ctx.shutdown.clone();
        let task = tokio::spawn(async move {
            let result = builder
                .add_service(sampling_manager(store))
                .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                .await;
            if let Err(e) = result {
                tracing::error!(listener = Self::NAME, error = %e, "grpc server failed");
            }
        });
        Ok(crate::component::RunningReceiver::new(
            Self::NAME,
            local_addr,
            task,
        ))
    }
}
