//! Listener hygiene shared by every TCP receiver: a cap on open connections, a deadline for a
//! connection's first byte and for idle connections, header and body read timeouts, and the
//! memory gate that refuses new requests while the process is over `--memory-limit`.
//!
//! [`incoming`] is the one accept loop of every TCP listener (receivers and spoor-api's query
//! servers) and [`serve_router`] the one HTTP serving loop. HTTP receivers are served by
//! [`serve_http`]; gRPC receivers build their server with [`grpc_server`] and take connections
//! from [`limited_incoming`].

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use spoor_model::ErrorKind;
use spoor_telemetry::{IN_FLIGHT_WAIT, MemoryLimiter, ReceiverMetrics};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_stream::StreamExt;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::access::admit;
use crate::auth::{Auth, Role};
use crate::component::{ReceiverContext, ReceiverError, RunningReceiver, bind_tcp};
use crate::status::{grpc_status, http_error};
use crate::tenant::{self, Tenancy};
use crate::tls::{MaybeTls, ServerTls, TlsServerSettings};

/// Limits on one listener's connections.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Most connections open at once; a connection beyond it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Time a new connection has to send its first byte, and an HTTP/1 client to send a
    /// request's headers (idle keep-alive connections are closed after it too).
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body (HTTP) or request (gRPC).
    pub body_read_timeout: Duration,
    /// A connection on which nothing was received for this long is closed.
    pub idle_timeout: Duration,
    /// TLS on the listener (`None`: plaintext); the handshake must finish within
    /// `header_read_timeout`.
    pub tls: Option<TlsServerSettings>,
    /// The authenticator every request must pass (`None`: open); set from the listener's
    /// `auth: {authenticator: …}`.
    #[serde(skip)]
    pub auth: Option<Auth>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            tls: None,
            auth: None,
        }
    }
}

/// A TCP connection holding its listener's connection permit, closed with an error once it has
/// been silent past its deadline (the first-byte deadline, then the idle deadline).
pub struct LimitedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl LimitedStream {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, limits: &ConnectionLimits) -> Self {
        Self {
            inner,
            _permit: permit,
            idle: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection silent past its deadline",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for LimitedStream {
    type ConnectInfo = <TcpStream as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// A connection as the servers see it: plaintext or TLS over a [`LimitedStream`].
pub type ServerStream = MaybeTls<LimitedStream>;

/// What a listener does with a connection beyond its `max_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Close it as soon as it is accepted, counted as `reason="too_many_connections"` (the
    /// receivers: a client retries elsewhere or later).
    Close,
    /// Leave it in the kernel's accept queue until a connection ends (the query API).
    Wait,
}

/// Accepted connections of `listener`, each holding a permit of `max_connections` (beyond it:
/// see [`WhenFull`]), closed once silent past `header_read_timeout` (first byte) or
/// `idle_timeout`. With `tls` set, handshakes run concurrently (each within
/// `header_read_timeout`) and a failed one is closed (and counted as `reason="tls_handshake"`
/// when `metrics` are given). This is the one accept loop of every TCP listener, the receivers'
/// and the query API's, HTTP and gRPC.
pub fn incoming(
    name: &'static str,
    listener: TcpListener,
    limits: &ConnectionLimits,
    tls: Option<ServerTls>,
    metrics: Option<ReceiverMetrics>,
    when_full: WhenFull,
) -> impl tokio_stream::Stream<Item = io::Result<ServerStream>> + Send + 'static + use<> {
    let limits = ConnectionLimits {
        tls: None,
        auth: None,
        ..limits.clone()
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<ServerStream>>(64);
    tokio::spawn(async move {
        loop {
            let waited = match when_full {
                WhenFull::Close => None,
                WhenFull::Wait => tokio::select! {
                    _ = tx.closed() => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => Some(permit),
                        Err(_) => break,
                    },
                },
            };
            let stream = tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::debug!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let permit = match waited {
                Some(permit) => permit,
                None => match permits.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        if let Some(m) = &metrics {
                            m.request_error("too_many_connections", 0);
                        }
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let limited = LimitedStream::new(stream, permit, &limits);
            match &tls {
                None => {
                    if tx.send(Ok(MaybeTls::Plain(limited))).await.is_err() {
                        break;
                    }
                }
                Some(tls) => {
                    let (tls, tx, metrics) = (tls.clone(), tx.clone(), metrics.clone());
                    let timeout = limits.header_read_timeout;
                    tokio::spawn(async move {
                        match tls.accept(limited, timeout).await {
                            Ok(stream) => {
                                let _ = tx.send(Ok(MaybeTls::Tls(Box::new(stream)))).await;
                            }
                            Err(e) => {
                                if let Some(m) = &metrics {
                                    m.request_error("tls_handshake", 0);
                                }
                                tracing::debug!(listener = name, error = %e, "TLS handshake failed");
                            }
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A receiver's connections: [`incoming`] with the TLS of its `limits`, counted in `metrics`,
/// closing connections beyond `max_connections`. Fails when the TLS files cannot be loaded.
pub(crate) fn limited_incoming(
    name: &'static str,
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: ReceiverMetrics,
) -> Result<
    impl tokio_stream::Stream<Item = io::Result<ServerStream>> + Send + 'static,
    ReceiverError,
> {
    let tls = limits
        .tls
        .as_ref()
        .map(ServerTls::new)
        .transpose()
        .map_err(|e| ReceiverError::Config {
            name,
            detail: e.to_string(),
        })?;
    Ok(incoming(
        name,
        listener,
        &limits,
        tls,
        Some(metrics),
        WhenFull::Close,
    ))
}

/// Serves `router` over HTTP/1 and HTTP/2 on every connection of `incoming` until `shutdown`
/// fires, then lets the open requests finish: the one HTTP serving loop of the receivers and
/// the query API. An HTTP/1 client has `header_read_timeout` to send a request's headers; HTTP/2
/// connections are pinged every half `idle_timeout`.
pub fn serve_router(
    name: &'static str,
    incoming: impl tokio_stream::Stream<Item = io::Result<ServerStream>> + Send + 'static,
    router: axum::Router,
    shutdown: tokio_util::sync::CancellationToken,
    limits: &ConnectionLimits,
) -> tokio::task::JoinHandle<()> {
    let (header_read_timeout, idle_timeout) = (limits.header_read_timeout, limits.idle_timeout);
    tokio::spawn(async move {
        let tracker = TaskTracker::new();
        let mut incoming = std::pin::pin!(incoming);
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = incoming.next() => match next {
                    Some(Ok(stream)) => stream,
                    Some(Err(_)) => continue,
                    None => break,
                },
            };
            let router = router.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                let service = TowerToHyperService::new(
                    router.map_request(|r: http::Request<hyper::body::Incoming>| r.map(Body::new)),
                );
                let mut builder = Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .keep_alive(true);
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .keep_alive_interval(Some(idle_timeout / 2))
                    .keep_alive_timeout(Duration::from_secs(10))
                    .max_concurrent_streams(256);
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(listener = name, error = %e, "connection ended");
                        }
                    }
                    _ = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
        tracker.close();
        tracker.wait().await;
    })
}

/// What the HTTP gate needs: the memory limit, the body limits, the receiver's counters.
#[derive(Clone)]
struct HttpGate {
    memory: MemoryLimiter,
    metrics: ReceiverMetrics,
    max_body_bytes: usize,
    body_read_timeout: Duration,
    auth: Option<Auth>,
    tenancy: Option<Arc<Tenancy>>,
}

/// Runs before every HTTP handler: refuses requests without valid credentials (401 with
/// `WWW-Authenticate`) when the listener has an authenticator, refuses while over the memory limit (429 with Retry-After,
/// before the body is read), then reads the whole body within `body_read_timeout` (408) and
/// `max_body_bytes` (413).
async fn http_gate(State(gate): State<HttpGate>, request: Request, next: Next) -> Response {
    if request.method() == http::Method::OPTIONS {
        return next.run(request).await;
    }
    let role = match *request.method() {
        http::Method::GET | http::Method::HEAD => Role::Read,
        _ => Role::Write,
    };
    let scope = match admit(
        gate.auth.as_ref(),
        gate.tenancy.as_ref(),
        request.headers(),
        role,
    ) {
        Ok(scope) => scope,
        Err(refusal) => {
            gate.metrics.request_error(refusal.reason(), 0);
            return refusal.http_response();
        }
    };
    let response = gated_http(gate, request, next);
    match scope {
        Some(scope) => tenant::scope(scope, response).await,
        None => response.await,
    }
}

/// The memory gate and the body read of [`http_gate`], once the request is admitted.
async fn gated_http(gate: HttpGate, request: Request, next: Next) -> Response {
    // Held until the handler has answered: bounds the requests read and decoded at once.
    let _permit = match gate.memory.enter_within(IN_FLIGHT_WAIT).await {
        Ok(permit) => permit,
        Err(refusal) => {
            gate.metrics.request_error(refusal.reason(), 0);
            return http_error(ErrorKind::Overloaded, refusal.message());
        }
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, gate.max_body_bytes);
    let bytes = match tokio::time::timeout(gate.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                gate.metrics.request_error("too_large", 0);
                return http_error(
                    ErrorKind::TooLarge,
                    &format!("body exceeds {} bytes", gate.max_body_bytes),
                );
            }
            gate.metrics.request_error("body_read", 0);
            return http_error(ErrorKind::InvalidInput, &format!("cannot read body: {e}"));
        }
        Err(_) => {
            gate.metrics.request_error("body_timeout", 0);
            let mut response = (
                http::StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {:?}\n",
                    gate.body_read_timeout
                ),
            )
                .into_response();
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Binds `addr` and serves `router` behind the memory gate and the connection limits until the
/// context's shutdown token fires, then drains.
pub(crate) async fn serve_http(
    name: &'static str,
    addr: SocketAddr,
    router: axum::Router,
    ctx: &ReceiverContext,
    limits: ConnectionLimits,
    max_body_bytes: usize,
    metrics: ReceiverMetrics,
) -> Result<RunningReceiver, ReceiverError> {
    let (listener, local_addr) = bind_tcp(name, addr).await?;
    let gate = HttpGate {
        memory: ctx.memory.clone(),
        metrics: metrics.clone(),
        max_body_bytes,
        body_read_timeout: limits.body_read_timeout,
        auth: limits.auth.clone(),
        tenancy: ctx.tenancy.clone(),
    };
    let router = router.layer(axum::middleware::from_fn_with_state(gate, http_gate));
    let shutdown = ctx.shutdown.clone();
    let serving = limits.clone();
    let incoming = limited_incoming(name, listener, limits, metrics)?;
    let task = serve_router(name, incoming, router, shutdown, &serving);
    Ok(RunningReceiver::new(name, local_addr, task))
}

/// A tonic server builder with the receivers' gRPC settings: the memory gate in front of every
/// service, a deadline per request, and HTTP/2 keep-alive pings to detect dead peers.
pub(crate) fn grpc_server(
    ctx: &ReceiverContext,
    limits: &ConnectionLimits,
    metrics: ReceiverMetrics,
) -> tonic::transport::Server<tower::layer::util::Stack<GrpcGateLayer, tower::layer::util::Identity>>
{
    tonic::transport::Server::builder()
        .timeout(limits.body_read_timeout)
        .http2_keepalive_interval(Some(limits.idle_timeout / 2))
        .http2_keepalive_timeout(Some(limits.header_read_timeout))
        .layer(GrpcGateLayer {
            memory: ctx.memory.clone(),
            metrics,
            auth: limits.auth.clone(),
            tenancy: ctx.tenancy.clone(),
        })
}

/// Refuses gRPC calls without valid credentials (UNAUTHENTICATED) when the listener has an
/// authenticator, and with RESOURCE_EXHAUSTED (and a retry hint) while the process is over its
/// memory limit, before the request is read.
#[derive(Clone)]
pub(crate) struct GrpcGateLayer {
    memory: MemoryLimiter,
    metrics: ReceiverMetrics,
    auth: Option<Auth>,
    tenancy: Option<Arc<Tenancy>>,
}

impl<S> tower::Layer<S> for GrpcGateLayer {
    type Service = GrpcGate<S>;

    fn layer(&self, inner: S) -> GrpcGate<S> {
        GrpcGate {
            inner,
            gate: self.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct GrpcGate<S> {
    inner: S,
    gate: GrpcGateLayer,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcGate<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let scope = match admit(
            self.gate.auth.as_ref(),
            self.gate.tenancy.as_ref(),
            request.headers(),
            Role::Write,
        ) {
            Ok(scope) => scope,
            Err(refusal) => {
                self.gate.metrics.request_error(refusal.reason(), 0);
                let status = refusal.grpc_status();
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        // Held until the call has answered: bounds the requests read and decoded at once. The
        // inner service is called only once the permit is held, so a waiting request is unread.
        let gate = self.gate.clone();
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        let call = async move {
            let permit = match gate.memory.enter_within(IN_FLIGHT_WAIT).await {
                Ok(permit) => permit,
                Err(refusal) => {
                    gate.metrics.request_error(refusal.reason(), 0);
                    let status = grpc_status(ErrorKind::Overloaded, refusal.message());
                    return Ok(status.into_http());
                }
            };
            let response = inner.call(request).await;
            drop(permit);
            response
        };
        match scope {
            Some(scope) => Box::pin(tenant::scope(scope, call)),
            None => Box::pin(call),
        }
    }
}

/// CORS for the receivers browsers post to, as the Collector's `cors.allowed_origins`: none by
/// default (no CORS headers at all), `*` for any origin, or an exact list of origins.
pub(crate) fn cors_layer(allowed_origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if allowed_origins.is_empty() {
        return None;
    }
    let origin = if allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed_origins
                .iter()
                .filter_map(|o| http::HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([http::Method::POST])
            .allow_headers(Any)
            .max_age(Duration::from_secs(7200)),
    )
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
