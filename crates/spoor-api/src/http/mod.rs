//! The query HTTP server: Jaeger's JSON API, api_v3 over HTTP, and the embedded UI.

mod jaeger;
mod params;
mod v3;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use spoor_query::QueryService;
use tower_http::cors::CorsLayer;

use crate::error::ApiError;

/// Largest body `POST /api/transform` accepts.
const MAX_TRANSFORM_BODY: usize = 64 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub query: QueryService,
}

/// The router served on `--query-http`.
pub fn query_router(query: QueryService) -> Router {
    let state = ApiState { query };
    Router::new()
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::service_operations),
        )
        .route("/api/operations", get(jaeger::operations))
        .route("/api/traces", get(jaeger::search))
        .route("/api/traces/{id}", get(jaeger::trace))
        .route("/api/dependencies", get(jaeger::dependencies))
        .route(
            "/api/transform",
            post(jaeger::transform).layer(DefaultBodyLimit::max(MAX_TRANSFORM_BODY)),
        )
        .route("/api/v3/services", get(v3::services))
        .route("/api/v3/operations", get(v3::operations))
        .route("/api/v3/traces", get(v3::find_traces))
        .route("/api/v3/traces/{id}", get(v3::trace))
        .route("/api/v3/trace-summaries", get(v3::trace_summaries))
        .route("/api/{*rest}", get(unknown_api))
        .fallback(get(ui_asset))
        .layer(CorsLayer::permissive())
        .with_state(state)
}

async fn unknown_api(uri: Uri) -> ApiError {
    ApiError {
        kind: spoor_model::ErrorKind::NotFound,
        message: format!("no API endpoint at {}", uri.path()),
    }
}

async fn ui_asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    match spoor_ui::asset(path) {
        Some(asset) => {
            let cache = if asset.cache_immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            let mut response = asset.bytes.into_owned().into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            response
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
