//! A receive-and-drop OTLP gRPC server for tests and for measuring the load generator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spoor_model::otlp_collector::trace_service_server::{TraceService, TraceServiceServer};
use spoor_model::otlp_collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio_stream::wrappers::TcpListenerStream;

#[derive(Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub spans: AtomicU64,
    /// Requests still to refuse with RESOURCE_EXHAUSTED before accepting.
    pub refuse: AtomicU64,
}

struct Drop(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for Drop {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = spoor_model::span_count(&request.into_inner().resource_spans);
        let refuse = self.0.refuse.load(Ordering::Relaxed);
        if refuse > 0
            && self
                .0
                .refuse
                .compare_exchange(refuse, refuse - 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Err(tonic::Status::resource_exhausted("busy, retry later"));
        }
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Starts the server on an ephemeral port of 127.0.0.1.
#[allow(dead_code)] // not every user of this module calls both
pub async fn start() -> std::io::Result<(SocketAddr, Arc<Counts>)> {
    start_refusing(0).await
}

/// Starts a server that refuses its first `refuse` requests with RESOURCE_EXHAUSTED.
pub async fn start_refusing(refuse: u64) -> std::io::Result<(SocketAddr, Arc<Counts>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts = Arc::new(Counts::default());
    counts.refuse.store(refuse, Ordering::Relaxed);
    let service = TraceServiceServer::new(Drop(counts.clone())).max_decoding_message_size(64 << 20);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    });
    Ok((addr, counts))
}
