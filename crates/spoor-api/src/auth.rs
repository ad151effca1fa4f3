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
    Auth, AuthError, Authenticator, Grant, GrpcAuthLayer, Identity, LoginMethod, Role,
};

/// Where the UI learns how to log in (open on the query listener).
pub const AUTH_CONFIG_PATH: &str = "/api/auth/config";
pub use spoor_receivers::tenant::{Tenancy, TenancySettings};

/// A GET or HEAD of the embedded UI (anything outside the API paths).
fn is_ui_asset(request: &axum::extract::Request) -> bool {
    let path = request.uri().path();
    let api = ["/api", "/analytics"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    });
    matches!(*request.method(), http::Method::GET | http::Method::HEAD) && !api
}

/// A script's request (`X-Requested-With: XMLHttpRequest`, as the UI sends), not a navigation.
fn is_ui_fetch(request: &axum::extract::Request) -> bool {
    request
        .headers()
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"))
}

/// A `Basic` challenge makes the browser open its own password dialog (and hold the UI's fetch
/// until it closes); for the UI's own calls it is answered as `FormBasic`, so the UI shows its
/// login form instead. Other clients get the standard challenge.
fn no_browser_prompt(response: &mut axum::response::Response) {
    if response.status() != http::StatusCode::UNAUTHORIZED {
        return;
    }
    let headers = response.headers_mut();
    let rewritten = headers
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() >= 5 && v[..5].eq_ignore_ascii_case("basic"))
        .and_then(|v| http::HeaderValue::from_str(&format!("FormBasic{}", &v[5..])).ok());
    if let Some(v) = rewritten {
        headers.insert(http::header::WWW_AUTHENTICATE, v);
    }
}

/// The origin (`scheme://host[:port]`) of an OIDC login's issuer, which the UI's page must be
/// allowed to fetch from (discovery and token endpoint).
fn issuer_origin(login: &LoginMethod) -> Option<String> {
    let LoginMethod::Oidc { issuer, .. } = login else {
        return None;
    };
    let uri: http::Uri = issuer.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// Adds `origin` to the `connect-src` of a UI page's Content-Security-Policy.
fn allow_connect_to(response: &mut axum::response::Response, origin: &str) {
    let headers = response.headers_mut();
    let Some(csp) = headers
        .get(http::header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let widened = csp.replace(
        "connect-src 'self'",
        &format!("connect-src 'self' {origin}"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&widened) {
        headers.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

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

    /// `router` served as `listener` with every route behind `guard` (CORS preflights pass);
    /// unchanged when the guard checks nothing. On the query listener the UI's static files (GET
    /// outside `/api` and `/analytics`) stay open, so the UI can load and show its login form;
    /// they hold no trace data.
    ///
    /// The query listener also answers `GET /api/auth/config` without credentials: how the UI
    /// logs in ([`LoginMethod`] as JSON: `{"type": "none" | "basic" | "bearer"}`, or
    /// `{"type": "oidc", "issuer", "client_id", "scope"}`).
    pub fn http(&self, router: Router, guard: Guard, listener: &'static str) -> Router {
        let router = if listener == "query-http" {
            let login = guard
                .auth
                .as_ref()
                .map_or(LoginMethod::None, |a| a.inner.login());
            router.route(
                AUTH_CONFIG_PATH,
                axum::routing::get(move || {
                    let login = login.clone();
                    async move {
                        (
                            [(http::header::CACHE_CONTROL, "no-store")],
                            axum::Json(login),
                        )
                    }
                }),
            )
        } else {
            router
        };
        if guard.is_open() {
            return router;
        }
        let connect_origin = guard
            .auth
            .as_ref()
            .and_then(|a| issuer_origin(&a.inner.login()));
        router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let guard = guard.clone();
                let connect_origin = connect_origin.clone();
                async move {
                    if listener == "query-http"
                        && (is_ui_asset(&request) || request.uri().path() == AUTH_CONFIG_PATH)
                    {
                        let mut response = next.run(request).await;
                        if let Some(origin) = &connect_origin {
                            allow_connect_to(&mut response, origin);
                        }
                        return response;
                    }
                    let from_ui = listener == "query-http" && is_ui_fetch(&request);
                    let mut response =
                        spoor_receivers::access::check_http(&guard, request, next).await;
                    if from_ui {
                        no_browser_prompt(&mut response);
                    }
                    response
                }
            },
        ))
    }

    /// The tower layer putting gRPC routes behind `guard` (`None` when it checks nothing).
    pub fn grpc(&self, guard: Guard) -> Option<GrpcAuthLayer> {
        (!guard.is_open()).then(|| GrpcAuthLayer::new(guard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> axum::extract::Request {
        axum::extract::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("request")
    }

    #[test]
    fn only_ui_files_pass_without_credentials() {
        for (method, path, open) in [
            ("GET", "/", true),
            ("GET", "/search", true),
            ("GET", "/assets/index-abc.js", true),
            ("HEAD", "/favicon.svg", true),
            ("GET", "/api", false),
            ("GET", "/api/services", false),
            ("GET", "/api/traceql?q=%7B%7D", false),
            ("GET", "/analytics/v1/dependencies", false),
            ("POST", "/search", false),
        ] {
            assert_eq!(is_ui_asset(&request(method, path)), open, "{method} {path}");
        }
    }

    #[test]
    fn the_ui_gets_a_basic_challenge_its_browser_does_not_prompt_for() {
        let refused = |challenge: &str| {
            let mut r = axum::response::Response::new(axum::body::Body::empty());
            *r.status_mut() = http::StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_str(challenge).expect("header"),
            );
            r
        };
        let mut r = refused("Basic realm=\"spoor\"");
        no_browser_prompt(&mut r);
        assert_eq!(
            r.headers()[http::header::WWW_AUTHENTICATE],
            "FormBasic realm=\"spoor\""
        );
        let mut r = refused("Bearer");
        no_browser_prompt(&mut r);
        assert_eq!(r.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        let mut fetch = request("GET", "/api/services");
        assert!(!is_ui_fetch(&fetch));
        fetch.headers_mut().insert(
            "x-requested-with",
            http::HeaderValue::from_static("XMLHttpRequest"),
        );
        assert!(is_ui_fetch(&fetch));
    }

    #[test]
    fn an_oidc_login_lets_the_ui_fetch_from_the_issuer() {
        let oidc = LoginMethod::Oidc {
            issuer: "https://idp.example:8443/dex".into(),
            client_id: "spoor-ui".into(),
            scope: "openid".into(),
        };
        let origin = issuer_origin(&oidc).expect("origin");
        assert_eq!(origin, "https://idp.example:8443");
        assert_eq!(issuer_origin(&LoginMethod::Basic), None);
        let mut page = axum::response::Response::new(axum::body::Body::empty());
        page.headers_mut().insert(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(
                "default-src 'self'; connect-src 'self'; object-src 'none'",
            ),
        );
        allow_connect_to(&mut page, &origin);
        assert_eq!(
            page.headers()[http::header::CONTENT_SECURITY_POLICY],
            "default-src 'self'; connect-src 'self' https://idp.example:8443; object-src 'none'"
        );
    }
}
