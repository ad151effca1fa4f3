//! Access to the query API, UI and admin port (`--query-auth`, `--admin-auth`, tenancy): every
//! request passes the authenticator extension named by the flag, else 401 with
//! `WWW-Authenticate` (HTTP) or UNAUTHENTICATED (gRPC); names its tenant when tenancy is on
//! (and is handled in that tenant's scope); and its identity holds the listener's role (`read`
//! on the query ports, `admin` on the admin port), else 403 / PERMISSION_DENIED.
//! Refused credentials and roles are counted in `spoor_auth_refused_total{listener}`.

use std::sync::Arc;

use axum::Router;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

pub use spoor_receivers::access::Guard;
pub use spoor_receivers::auth::{
    Auth, AuthError, Authenticator, Grant, GrpcAuthLayer, Identity, Role,
};
pub use spoor_receivers::tenant::{Tenancy, TenancySettings};

/// `spoor_auth_refused_total{listener}`: requests refused for missing or invalid credentials on
/// the query and admin ports.
#[derive(Clone)]
pub struct AuthMetrics {
    refused: Family<Vec<(String, String)>, Counter>,
}

impl AuthMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        let refused = Family::<Vec<(String, String)>, Counter>::default();
        telemetry.register(
            "auth_refused",
            "Requests refused for missing or invalid credentials, per listener",
            refused.clone(),
        );
        Self { refused }
    }

    fn counter(&self, listener: &'static str) -> Arc<dyn Fn(&'static str) + Send + Sync> {
        let refused = self.refused.clone();
        Arc::new(move |reason| {
            // Tenant refusals are counted by the tenancy itself.
            if reason == "unauthenticated" || reason == "forbidden" {
                refused
                    .get_or_create(&vec![("listener".to_string(), listener.to_string())])
                    .inc();
            }
        })
    }

    /// What `listener` checks: `auth` (optional), the tenant when `tenancy` is on, and `role`.
    pub fn guard(
        &self,
        auth: Option<Auth>,
        tenancy: Option<Arc<Tenancy>>,
        role: Role,
        listener: &'static str,
    ) -> Guard {
        Guard {
            auth,
            tenancy,
            role,
            on_refused: self.counter(listener),
            tenant_paths: None,
        }
    }

    /// `router` with every route behind `guard` (CORS preflights pass); unchanged when the
    /// guard checks nothing.
    pub fn http(&self, router: Router, guard: Guard) -> Router {
        if guard.is_open() {
            return router;
        }
        router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let guard = guard.clone();
                async move { spoor_receivers::access::check_http(&guard, request, next).await }
            },
        ))
    }

    /// The tower layer putting gRPC routes behind `guard` (`None` when it checks nothing).
    pub fn grpc(&self, guard: Guard) -> Option<GrpcAuthLayer> {
        (!guard.is_open()).then(|| GrpcAuthLayer::new(guard))
    }
}
