//! Authentication of the query API, UI and admin port (`--query-auth`, `--admin-auth`): every
//! request passes the authenticator extension named by the flag, else 401 with
//! `WWW-Authenticate` (HTTP) or UNAUTHENTICATED (gRPC), counted in
//! `spoor_auth_refused_total{listener}`.

use std::sync::Arc;

use axum::Router;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;

pub use spoor_receivers::auth::{Auth, AuthError, Authenticator, GrpcAuthLayer};

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

    fn counter(&self, listener: &'static str) -> Arc<dyn Fn() + Send + Sync> {
        let refused = self.refused.clone();
        Arc::new(move || {
            refused
                .get_or_create(&vec![("listener".to_string(), listener.to_string())])
                .inc();
        })
    }

    /// `router` with every route behind `auth` (CORS preflights pass).
    pub fn http(&self, router: Router, auth: Auth, listener: &'static str) -> Router {
        let on_refused = self.counter(listener);
        router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let auth = auth.clone();
                let on_refused = on_refused.clone();
                async move {
                    spoor_receivers::auth::check_http(&auth, on_refused.as_ref(), request, next)
                        .await
                }
            },
        ))
    }

    /// The tower layer putting gRPC routes behind `auth`.
    pub fn grpc(&self, auth: Auth, listener: &'static str) -> GrpcAuthLayer {
        GrpcAuthLayer::new(auth, self.counter(listener))
    }
}
