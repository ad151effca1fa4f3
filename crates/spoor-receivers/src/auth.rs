//! Request authentication of a listener (`auth: {authenticator: …}`): an [`Authenticator`]
//! checks each request's headers; a refused HTTP request gets 401 with `WWW-Authenticate`, a
//! refused gRPC call UNAUTHENTICATED, and both are counted.
//!
//! The authenticators themselves (`basicauth`, `bearertokenauth`) are extensions of
//! `spoor-pipeline`; this crate only runs them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};

/// Why a request was refused (never echoed with secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials")]
    Missing,
    #[error("invalid credentials")]
    Invalid,
}

/// Checks a request's headers.
pub trait Authenticator: Send + Sync + 'static {
    /// The authenticated user (or token name) on success.
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, AuthError>;
    /// The `WWW-Authenticate` challenge of a 401 (`Basic realm="spoor"`, `Bearer`).
    fn challenge(&self) -> &str;
}

/// A listener's authenticator, shared by its connections.
#[derive(Clone)]
pub struct Auth {
    /// The extension id (`basicauth/ui`), for logs.
    pub name: String,
    pub inner: Arc<dyn Authenticator>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("name", &self.name).finish()
    }
}

impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Auth {
    pub fn new(name: impl Into<String>, inner: Arc<dyn Authenticator>) -> Self {
        Self {
            name: name.into(),
            inner,
        }
    }

    /// 401 with the challenge, as the refusal of an HTTP request.
    pub fn refusal(&self, error: &AuthError) -> Response {
        let mut response = (
            http::StatusCode::UNAUTHORIZED,
            format!("unauthenticated: {error}\n"),
        )
            .into_response();
        if let Ok(v) = http::HeaderValue::from_str(self.inner.challenge()) {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Tower layer refusing gRPC calls without valid credentials (UNAUTHENTICATED), calling
/// `on_refused` for each refusal.
#[derive(Clone)]
pub struct GrpcAuthLayer {
    auth: Auth,
    on_refused: Arc<dyn Fn() + Send + Sync>,
}

impl GrpcAuthLayer {
    pub fn new(auth: Auth, on_refused: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self { auth, on_refused }
    }
}

impl<S> tower::Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> GrpcAuth<S> {
        GrpcAuth {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    layer: GrpcAuthLayer,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcAuth<S>
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Err(e) = self.layer.auth.inner.authenticate(request.headers()) {
            (self.layer.on_refused)();
            let status = tonic::Status::unauthenticated(format!("unauthenticated: {e}"));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        Box::pin(self.inner.call(request))
    }
}

/// An axum middleware body: `request` passes when `auth` accepts it, else 401 (and
/// `on_refused`). CORS preflights pass unauthenticated, as browsers send them without
/// credentials.
pub async fn check_http(
    auth: &Auth,
    on_refused: &(dyn Fn() + Send + Sync),
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() != http::Method::OPTIONS
        && let Err(e) = auth.inner.authenticate(request.headers())
    {
        on_refused();
        return auth.refusal(&e);
    }
    next.run(request).await
}
