//! Spoor's query and admin APIs.
//!
//! - [`query_router`]: the query HTTP port (16686): Jaeger's JSON API (`/api/services`,
//!   `/api/traces`, `/api/dependencies`, `/api/transform`, …) byte-compatible with what the Jaeger
//!   UI and Grafana's Jaeger data source send and parse; api_v3 over HTTP (`/api/v3/*`, OTLP
//!   JSON, parameters under their JSON and proto names); the Deep Dependency Graph
//!   (`/analytics/v1/dependencies`); JSON 404s for other `/api/` and `/analytics/` paths; and
//!   the embedded web UI, with security headers, for every other path. CORS only for the
//!   origins in [`QueryHttpOptions`].
//! - [`serve_http`]: every HTTP listener closes connections that do not send their headers (or
//!   sit idle) for [`HttpLimits::header_read_timeout`] and serves at most
//!   [`HttpLimits::max_connections`] at once.
//! - [`tempo_router`]: Tempo's query API (3200) for Grafana's Tempo data source: traces by id
//!   (`/api/traces/{id}`, `/api/v2/traces/{id}`, OTLP JSON or protobuf), TraceQL search
//!   (`/api/search`), tag names and values (v1 and v2), `/api/echo`, `/api/status/buildinfo`,
//!   `/ready`.
//! - [`admin_router`]: `/metrics` (Prometheus) and `/health` (14269), and with
//!   [`admin_router_with`] `POST /api/admin/delete` through a [`Purger`]; [`health_router`]: the
//!   Collector-style health check (13133).
//! - [`serve_http`] / [`serve_grpc`]: bind and serve until the shutdown token fires.
//!
//! Errors from lower layers carry an [`ErrorKind`](spoor_model::ErrorKind); the status they
//! become comes from `ErrorKind::http_status`/`grpc_code`, the one mapping in Spoor.
//!
//! ```no_run
//! # async fn demo(query: spoor_query::QueryService) -> Result<(), spoor_api::ServeError> {
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let server = spoor_api::serve_http(
//!     "query-http",
//!     "127.0.0.1:0".parse().unwrap(),
//!     spoor_api::query_router(query, &spoor_api::QueryHttpOptions::default()),
//!     shutdown.clone(),
//! ).await?;
//! println!("query API on {}", server.local_addr);
//! shutdown.cancel();
//! server.join().await;
//! # Ok(()) }
//! ```
//!
//! The API crate never reads storage directly: everything goes through `QueryService`.

mod admin;
pub mod auth;
mod duration;
mod error;
mod grpc;
mod headers;
mod http;
mod purge;
mod server;

pub use admin::{Readiness, admin_router, admin_router_with, health_router};
pub use duration::parse_go_duration;
pub use error::ApiError;
pub use grpc::query_grpc_routes;
pub use headers::security_headers;
pub use http::{
    CorsOrigins, InvalidOrigin, QueryHttpOptions, query_router, tempo_router, zipkin_router,
};
pub use purge::{DeleteRequest, Purger, parse_before};
pub use server::{
    HttpLimits, MaybeTls, RunningServer, ServeError, ServerTls, TlsError, TlsServerSettings,
    serve_grpc, serve_grpc_tls, serve_http, serve_http_with, serve_https,
};
