use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use spoor_receivers::{ConnectionLimits, WhenFull, incoming, serve_router};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use spoor_receivers::tls::{MaybeTls, ServerTls, TlsError, TlsServerSettings};

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

/// Limits every HTTP listener applies to its connections. Connections are accepted and served
/// by the receivers' loop (`spoor_receivers::incoming` and `serve_router`), so every port
/// behaves the same way.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Time a client has to send a request's headers; also how long a connection may sit idle
    /// (silent from the start, or between keep-alive requests) before it is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl HttpLimits {
    /// The receivers' connection limits these stand for (the accept loop is theirs).
    fn connection_limits(self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            ..ConnectionLimits::default()
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Binds `addr` and serves `router` over HTTP/1 and HTTP/2 until `shutdown` fires, with the
/// default [`HttpLimits`].
pub async fn serve_http(
    name: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServeError> {
    serve_http_with(name, addr, router, shutdown, HttpLimits::default()).await
}

/// [`serve_http`] with explicit limits.
pub async fn serve_http_with(
    name: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
) -> Result<RunningServer, ServeError> {
    serve_https(name, addr, router, shutdown, limits, None).await
}

/// [`serve_http_with`] over TLS when `tls` is set (HTTPS, with mutual TLS where the settings
/// have a client CA); a client that does not complete the handshake within
/// `header_read_timeout` is closed.
pub async fn serve_https(
    name: &'static str,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
    tls: Option<ServerTls>,
) -> Result<RunningServer, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { name, addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError { name, addr, source })?;
    let limits = limits.connection_limits();
    let incoming = incoming(name, listener, &limits, tls, None, WhenFull::Wait);
    let task = serve_router(name, incoming, router, shutdown, &limits);
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
    serve_grpc_tls(name, addr, routes, shutdown, None, None).await
}

/// [`serve_grpc`] over TLS when `tls` is set (handshakes run concurrently, each within 10 s),
/// and behind `auth` when set. Connections come from the receivers' accept loop
/// (`spoor_receivers::incoming`), with the default [`HttpLimits`].
pub async fn serve_grpc_tls(
    name: &'static str,
    addr: SocketAddr,
    routes: tonic::service::Routes,
    shutdown: CancellationToken,
    tls: Option<ServerTls>,
    auth: Option<crate::auth::GrpcAuthLayer>,
) -> Result<RunningServer, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { name, addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError { name, addr, source })?;
    let task = tokio::spawn(async move {
        let limits = HttpLimits::default().connection_limits();
        let incoming = incoming(name, listener, &limits, tls, None, WhenFull::Wait);
        let result = match auth {
            Some(auth) => {
                tonic::transport::Server::builder()
                    .layer(auth)
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                    .await
            }
            None => {
                tonic::transport::Server::builder()
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                    .await
            }
        };
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
