use std::net::SocketAddr;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {name} on {addr}: {source}")]
pub struct ServeError {
    pub name: &'static str,
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// A started API server.
pub struct RunningServer {
    pub name: &'static str,
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Waits until the server has stopped (after the shutdown token fired and requests drained).
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(server = self.name, error = %e, "server task failed");
        }
    }
}

/// Binds `addr` and serves `router` over HTTP/1 and HTTP/2 until `shutdown` fires.
pub async fn serve_http(
    name: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { name, addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError { name, addr, source })?;
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = result {
            tracing::error!(server = name, error = %e, "http server failed");
        }
    });
    Ok(RunningServer {
        name,
        local_addr,
        task,
    })
}

/// Binds `addr` and serves gRPC `routes` until `shutdown` fires.
pub async fn serve_grpc(
    name: &'static str,
    addr: SocketAddr,
    routes: tonic::service::Routes,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { name, addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError { name, addr, source })?;
    let task = tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                shutdown.cancelled_owned(),
            )
            .await;
        if let Err(e) = result {
            tracing::error!(server = name, error = %e, "grpc server failed");
        }
    });
    Ok(RunningServer {
        name,
        local_addr,
        task,
    })
}
