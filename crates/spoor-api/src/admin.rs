//! The admin server (`/metrics`, `/health`) and the Collector-style health check server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use spoor_telemetry::Telemetry;

use crate::purge::Purger;

/// Whether Spoor is ready to serve: set once every listener is up, cleared on shutdown.
#[derive(Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    started: Instant,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
        }
    }
}

impl Readiness {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn response(&self) -> Response {
        let (status, text) = if self.is_ready() {
            (StatusCode::OK, "Server available")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "Server not available")
        };
        let body = serde_json::json!({
            "status": text,
            "upSince": humantime::format_rfc3339_seconds(std::time::SystemTime::now() - self.started.elapsed()).to_string(),
            "uptime": format!("{:?}", self.started.elapsed()),
        });
        (status, Json(body)).into_response()
    }
}

#[derive(Clone)]
struct AdminState {
    telemetry: Telemetry,
    readiness: Readiness,
}

/// `--admin-http`: `/metrics` (Prometheus text format) and `/health`.
pub fn admin_router(telemetry: Telemetry, readiness: Readiness) -> Router {
    admin_router_with(telemetry, readiness, None)
}

/// [`admin_router`] plus `POST /api/admin/delete` (see [`Purger`]), answered 501 when
/// `purger` is `None`.
pub fn admin_router_with(
    telemetry: Telemetry,
    readiness: Readiness,
    purger: Option<Arc<dyn Purger>>,
) -> Router {
    let purge = Router::new()
        .route("/api/admin/delete", post(crate::purge::delete))
        .with_state(crate::purge::PurgeState::new(purger, &telemetry));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(admin_health))
        .route("/", get(admin_health))
        .with_state(AdminState {
            telemetry,
            readiness,
        })
        .merge(purge)
}

/// `--health-http`: `GET /` answers 200 with a JSON status when ready, as the Collector's
/// `health_check` extension does.
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/", get(health))
        .route("/health", get(health))
        .with_state(readiness)
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut response = state.telemetry.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn admin_health(State(state): State<AdminState>) -> Response {
    state.readiness.response()
}

async fn health(State(readiness): State<Readiness>) -> Response {
    readiness.response()
}
