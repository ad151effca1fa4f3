//! Access to a listener: authentication (when it has an authenticator), the request's tenant
//! (when tenancy is on) and the role the identity must hold on it, checked in that order.
//! The receivers' gates ask for `write` (`read` for GET, Zipkin's reads), the query ports for
//! `read`, the admin port for `admin`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, AuthError, Role};
use crate::tenant::{self, Tenancy, TenantError, TenantScope};

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal<'a> {
    /// No valid credentials (401 / UNAUTHENTICATED).
    Auth(&'a Auth, AuthError),
    /// No, or a refused, tenant (see [`TenantError`]).
    Tenant(TenantError),
    /// The identity lacks the role (403 / PERMISSION_DENIED).
    Role(String),
}

impl Refusal<'_> {
    /// The reason label counters use.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Auth(..) => "unauthenticated",
            Refusal::Tenant(e) => e.reason(),
            Refusal::Role(_) => "forbidden",
        }
    }

    pub fn http_response(&self) -> Response {
        match self {
            Refusal::Auth(auth, e) => auth.refusal(e),
            Refusal::Tenant(e) => e.http_response(),
            Refusal::Role(m) => (http::StatusCode::FORBIDDEN, format!("{m}\n")).into_response(),
        }
    }

    pub fn grpc_status(&self) -> tonic::Status {
        match self {
            Refusal::Auth(_, e) => tonic::Status::unauthenticated(format!("unauthenticated: {e}")),
            Refusal::Tenant(e) => e.grpc_status(),
            Refusal::Role(m) => tonic::Status::permission_denied(m.clone()),
        }
    }
}

/// Authenticates a request, resolves its tenant and checks that the identity holds `role` on
/// it. Returns the tenant scope to handle the request in (`None`: tenancy off).
pub fn admit<'a>(
    auth: Option<&'a Auth>,
    tenancy: Option<&Arc<Tenancy>>,
    headers: &http::HeaderMap,
    role: Role,
) -> Result<Option<TenantScope>, Refusal<'a>> {
    let identity = match auth {
        Some(auth) => Some(
            auth.inner
                .identify(headers)
                .map_err(|e| Refusal::Auth(auth, e))?,
        ),
        None => None,
    };
    let scope = match tenancy {
        Some(tenancy) => Some(TenantScope {
            tenant: tenancy
                .resolve(headers, identity.as_ref())
                .map_err(Refusal::Tenant)?,
            tenancy: tenancy.clone(),
        }),
        None => None,
    };
    if let Some(identity) = &identity
        && !identity.allows(scope.as_ref().map(|s| &*s.tenant), role)
    {
        return Err(Refusal::Role(format!(
            "forbidden: {} does not hold the {} role{}",
            identity.user,
            role.as_str(),
            scope
                .as_ref()
                .map(|s| format!(" on tenant {}", s.tenant))
                .unwrap_or_default()
        )));
    }
    Ok(scope)
}

/// What a query-side listener checks: its authenticator, tenancy and the role it asks for;
/// `on_refused` is called with the reason of each refusal.
#[derive(Clone)]
pub struct Guard {
    pub auth: Option<Auth>,
    pub tenancy: Option<Arc<Tenancy>>,
    pub role: Role,
    pub on_refused: Arc<dyn Fn(&'static str) + Send + Sync>,
    /// Tenancy applies only to HTTP paths under this prefix (`None`: every path); the admin
    /// port's `/metrics` is the process's, its `/api/admin/*` a tenant's.
    pub tenant_paths: Option<&'static str>,
}

impl Guard {
    /// Whether the guard checks anything at all.
    pub fn is_open(&self) -> bool {
        self.auth.is_none() && self.tenancy.is_none()
    }
}

/// An axum middleware body: admits the request per `guard` and handles it in its tenant's
/// scope. CORS preflights pass, as browsers send them without credentials.
pub async fn check_http(
    guard: &Guard,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == http::Method::OPTIONS {
        return next.run(request).await;
    }
    let tenancy = guard.tenancy.as_ref().filter(|_| {
        guard
            .tenant_paths
            .is_none_or(|p| request.uri().path().starts_with(p))
    });
    match admit(guard.auth.as_ref(), tenancy, request.headers(), guard.role) {
        Ok(Some(scope)) => tenant::scope(scope, next.run(request)).await,
        Ok(None) => next.run(request).await,
        Err(refusal) => {
            (guard.on_refused)(refusal.reason());
            refusal.http_response()
        }
    }
}

/// Tower layer admitting gRPC calls per its guard.
#[derive(Clone)]
pub struct GrpcGuardLayer {
    guard: Guard,
}

impl GrpcGuardLayer {
    pub fn new(guard: Guard) -> Self {
        Self { guard }
    }
}

impl<S> tower::Layer<S> for GrpcGuardLayer {
    type Service = GrpcGuard<S>;

    fn layer(&self, inner: S) -> GrpcGuard<S> {
        GrpcGuard {
            inner,
            guard: self.guard.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcGuard<S> {
    inner: S,
    guard: Guard,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcGuard<S>
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
        let g = &self.guard;
        match admit(
            g.auth.as_ref(),
            g.tenancy.as_ref(),
            request.headers(),
            g.role,
        ) {
            Ok(Some(scope)) => Box::pin(tenant::scope(scope, self.inner.call(request))),
            Ok(None) => Box::pin(self.inner.call(request)),
            Err(refusal) => {
                (g.on_refused)(refusal.reason());
                let status = refusal.grpc_status();
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}
