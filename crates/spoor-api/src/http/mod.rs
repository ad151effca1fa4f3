//! The query HTTP server: Jaeger's JSON API, api_v3 over HTTP, the Deep Dependency Graph, and the
//! embedded UI.
//!
//! Paths under `/api/` and `/analytics/` are API paths: an unknown one is a JSON 404 in Jaeger's
//! error envelope; every other path is the UI's. Cross-origin reads are refused unless origins
//! are configured ([`CorsOrigins`]); UI pages carry a Content-Security-Policy and anti-framing
//! headers.

mod analytics;
mod insights;
mod jaeger;
mod monitor;
mod params;
mod query_box;
mod respond;
mod tempo;
mod tempo_json;
mod ui;
mod v3;
mod zipkin;

pub use tempo::tempo_router;
pub(crate) use v3::parse_rfc3339;
pub use zipkin::zipkin_router;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::Response;
use axum::routing::{any, get, post};
use spoor_query::QueryService;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub query: QueryService,
}

/// Which web origins may read the query API from a browser (CORS). The default allows none:
/// a page on another origin cannot read a user's traces from a Spoor on their machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    #[default]
    None,
    /// `*`: any origin (explicit opt-in).
    Any,
    /// Exact origins (`https://grafana.example.com`) or one-level wildcards
    /// (`https://*.example.com`).
    List(Vec<String>),
}

/// A CORS origin that is neither `*` nor `scheme://host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid CORS origin {0:?}: expected '*' or scheme://host[:port], e.g. https://grafana.example.com or https://*.example.com"
)]
pub struct InvalidOrigin(pub String);

impl CorsOrigins {
    /// Parses the configured list (`--query-cors-allowed-origins`).
    pub fn parse(origins: &[String]) -> Result<Self, InvalidOrigin> {
        let origins: Vec<&str> = origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.is_empty() {
            return Ok(Self::None);
        }
        if origins.contains(&"*") {
            return Ok(Self::Any);
        }
        for origin in &origins {
            let valid = origin.split_once("://").is_some_and(|(scheme, host)| {
                !scheme.is_empty()
                    && !host.is_empty()
                    && !host.contains('/')
                    && !origin.contains(char::is_whitespace)
                    && HeaderValue::from_str(origin).is_ok()
            });
            if !valid {
                return Err(InvalidOrigin(origin.to_string()));
            }
        }
        Ok(Self::List(
            origins.into_iter().map(str::to_string).collect(),
        ))
    }

    fn allows(patterns: &[String], origin: &str) -> bool {
        patterns.iter().any(|p| match p.split_once("://*.") {
            Some((scheme, domain)) => origin
                .strip_prefix(scheme)
                .and_then(|o| o.strip_prefix("://"))
                .and_then(|host| host.strip_suffix(domain))
                .is_some_and(|sub| {
                    sub.ends_with('.') && sub.len() > 1 && !sub[..sub.len() - 1].contains('.')
                }),
            None => p == origin,
        })
    }

    fn layer(&self) -> Option<CorsLayer> {
        let allow = match self {
            CorsOrigins::None => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(patterns) => {
                let patterns = patterns.clone();
                AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                    origin
                        .to_str()
                        .is_ok_and(|o| CorsOrigins::allows(&patterns, o))
                })
            }
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([header::CONTENT_TYPE, header::ACCEPT]),
        )
    }
}

/// Options of the query HTTP server.
#[derive(Clone, Default)]
pub struct QueryHttpOptions {
    pub cors: CorsOrigins,
    /// The RED history behind Jaeger's Monitor API (`/api/metrics/*`); without it those
    /// routes answer 503.
    pub monitor: Option<std::sync::Arc<spoor_query::monitor::MonitorStore>>,
    /// Where the query box's request counters are registered.
    pub telemetry: Option<spoor_telemetry::Telemetry>,
}

/// The router served on `--query-http`.
pub fn query_router(query: QueryService, options: &QueryHttpOptions) -> Router {
    let state = ApiState { query };
    let api = Router::new()
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::service_operations),
        )
        .route("/api/operations", get(jaeger::operations))
        .route("/api/traces", get(jaeger::search))
        .route("/api/traces/{id}", get(jaeger::trace))
        .route(
            "/api/traces/{id}/critical-path",
            get(insights::critical_path),
        )
        .route("/api/analytics/compare", get(insights::compare))
        .route("/api/dependencies", get(jaeger::dependencies))
        .route(
            "/api/transform",
            post(jaeger::transform).layer(DefaultBodyLimit::max(jaeger::MAX_TRANSFORM_BODY)),
        )
        .route("/api/v3/services", get(v3::services))
        .route("/api/v3/operations", get(v3::operations))
        .route("/api/v3/traces", get(v3::find_traces))
        .route("/api/v3/traces/{id}", get(v3::trace))
        .route("/api/v3/trace-summaries", get(v3::trace_summaries))
        .route("/api/v3/dependencies", get(v3::dependencies))
        .route(
            "/analytics/v1/dependencies",
            get(analytics::deep_dependencies),
        );
    let api = api.merge(monitor::routes(options.monitor.clone()));
    let api = api.merge(query_box::routes(
        state.query.clone(),
        options.telemetry.as_ref(),
    ));
    let api = [
        "/api",
        "/api/",
        "/api/{*rest}",
        "/analytics",
        "/analytics/",
        "/analytics/{*rest}",
    ]
    .into_iter()
    .fold(api, |router, path| router.route(path, any(unknown_api)));
    let api = match options.cors.layer() {
        Some(cors) => api.layer(cors),
        None => api,
    };
    api.fallback(get(ui::asset))
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn unknown_api(uri: Uri) -> ApiError {
    ApiError {
        kind: spoor_model::ErrorKind::NotFound,
        message: format!("no API endpoint at {}", uri.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_cors_origins() {
        assert_eq!(CorsOrigins::parse(&[]).expect("empty"), CorsOrigins::None);
        assert_eq!(
            CorsOrigins::parse(&["*".into()]).expect("any"),
            CorsOrigins::Any
        );
        for bad in [
            "grafana.example.com",
            "https://",
            "https://a/b",
            "http://a b",
        ] {
            assert!(CorsOrigins::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        let CorsOrigins::List(list) = CorsOrigins::parse(&[
            "https://grafana.example.com".into(),
            "https://*.corp.example".into(),
        ])
        .expect("valid") else {
            panic!("a list");
        };
        assert!(CorsOrigins::allows(&list, "https://grafana.example.com"));
        assert!(!CorsOrigins::allows(&list, "http://grafana.example.com"));
        assert!(CorsOrigins::allows(&list, "https://ui.corp.example"));
        assert!(!CorsOrigins::allows(&list, "https://a.b.corp.example"));
        assert!(!CorsOrigins::allows(&list, "https://evilcorp.example"));
        assert!(!CorsOrigins::allows(&list, "https://.corp.example"));
    }
}
