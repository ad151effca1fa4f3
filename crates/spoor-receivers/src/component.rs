use std::net::SocketAddr;
use std::sync::Arc;

use spoor_model::TraceSink;
use spoor_telemetry::{MemoryLimiter, Telemetry};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What every receiver gets when it is built.
#[derive(Clone)]
pub struct ReceiverContext {
    /// Where decoded spans go. The receiver acknowledges a client only after `consume` is `Ok`.
    pub sink: Arc<dyn TraceSink>,
    /// Where OTLP metrics and logs go; a signal without a sink is acknowledged, counted as
    /// dropped and warned about once.
    pub signals: crate::otlp::SignalSinks,
    /// Metrics registry; receivers take their counters from [`Telemetry::receiver`].
    pub telemetry: Telemetry,
    /// Cancelled when the process shuts down: stop accepting, finish in-flight requests, return.
    pub shutdown: CancellationToken,
    /// The process's memory limit: while over it, receivers refuse new requests before reading
    /// them (429 / RESOURCE_EXHAUSTED). [`MemoryLimiter::off`] never refuses.
    pub memory: MemoryLimiter,
    /// Remote sampling strategies: when set, the Jaeger gRPC receiver also serves
    /// `SamplingManager` on its port.
    pub sampling: Option<std::sync::Arc<crate::sampling::StrategyStore>>,
    /// Read routes the Zipkin HTTP receiver serves on its port next to `POST /api/v2/spans`
    /// (the binary passes spoor-api's Zipkin v2 query API); `None`: ingest only.
    pub zipkin_routes: Option<axum::Router>,
    /// Tenancy (`None`: off): every request must name an allowed tenant, which its spans carry
    /// to the store (see [`crate::tenant`]).
    pub tenancy: Option<Arc<crate::tenant::Tenancy>>,
}

/// A started receiver.
pub struct RunningReceiver {
    /// Listener name as logged and used in metrics (`otlp-grpc`, `jaeger-thrift-compact`, …).
    pub name: &'static str,
    /// The bound address (useful when configured with port 0).
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningReceiver {
    pub fn new(name: &'static str, local_addr: SocketAddr, task: JoinHandle<()>) -> Self {
        Self {
            name,
            local_addr,
            task,
        }
    }

    /// Waits until the receiver has drained and stopped (after the shutdown token fired).
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(receiver = self.name, error = %e, "receiver task failed");
        }
    }
}

/// Why a receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("cannot bind {name} on {addr}: {source}")]
    Bind {
        name: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {name} configuration: {detail}")]
    Config { name: &'static str, detail: String },
}

/// Binds a TCP listener, naming the receiver in errors; returns it with its bound address.
pub(crate) async fn bind_tcp(
    name: &'static str,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), ReceiverError> {
    let bind_error = |source| ReceiverError::Bind { name, addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local_addr))
}
