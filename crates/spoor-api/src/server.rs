use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// Limits every HTTP listener applies to its connections.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Time a client has to send a request's headers; also how long a connection may sit idle
    /// (silent from the start, or between keep-alive requests) before it is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
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
    let task = tokio::spawn(accept_loop(name, listener, router, shutdown, limits, tls));
    Ok(RunningServer {
        name,
        local_addr,
        task,
    })
}

async fn accept_loop(
    name: &'static str,
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
    tls: Option<ServerTls>,
) {
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(server = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(
            stream,
            router.clone(),
            shutdown.clone(),
            limits,
            slot,
            tls.clone(),
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
    _slot: OwnedSemaphorePermit,
    tls: Option<ServerTls>,
) {
    stream.set_nodelay(true).ok();
    // Protocol detection reads before hyper's header timer runs: a connection that sends nothing
    // is closed here.
    let mut first = [0u8; 1];
    match tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return,
    }
    let stream = match tls {
        None => MaybeTls::Plain(stream),
        Some(tls) => match tls.accept(stream, limits.header_read_timeout).await {
            Ok(stream) => MaybeTls::Tls(Box::new(stream)),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
        },
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(256);
    let service = TowerToHyperService::new(router);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
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
/// and behind `auth` when set.
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
        let incoming = tls_incoming(listener, tls);
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

/// Accepted connections of `listener`, after their TLS handshake when `tls` is set (a failed or
/// slow handshake closes that connection only).
fn tls_incoming(
    listener: tokio::net::TcpListener,
    tls: Option<ServerTls>,
) -> impl tokio_stream::Stream<Item = std::io::Result<MaybeTls<tokio::net::TcpStream>>> + Send + 'static
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            stream.set_nodelay(true).ok();
            match &tls {
                None => {
                    if tx.send(Ok(MaybeTls::Plain(stream))).await.is_err() {
                        break;
                    }
                }
                Some(tls) => {
                    let (tls, tx) = (tls.clone(), tx.clone());
                    tokio::spawn(async move {
                        match tls.accept(stream, Duration::from_secs(10)).await {
                            Ok(stream) => {
                                let _ = tx.send(Ok(MaybeTls::Tls(Box::new(stream)))).await;
                            }
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
