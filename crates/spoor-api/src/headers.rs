//! Security headers on every response of the query, Tempo and admin listeners:
//! `X-Content-Type-Options: nosniff` always, and `Strict-Transport-Security` when the listener
//! serves TLS. Headers a route set itself (the UI's) are kept.

use axum::Router;
use axum::http::{HeaderValue, header};

/// One year, as browsers' HSTS preload lists expect.
const HSTS: &str = "max-age=31536000";

/// `router` with the security headers on every response (refusals included when this is the
/// outermost layer).
pub fn security_headers(router: Router, tls: bool) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            headers
                .entry(header::X_CONTENT_TYPE_OPTIONS)
                .or_insert(HeaderValue::from_static("nosniff"));
            if tls {
                headers
                    .entry(header::STRICT_TRANSPORT_SECURITY)
                    .or_insert(HeaderValue::from_static(HSTS));
            }
            response
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn headers_of(tls: bool) -> axum::http::HeaderMap {
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let response = security_headers(router, tls)
            .oneshot(
                axum::http::Request::builder()
                    .uri("/missing")
                    .body(axum::body::Body::empty())
                    .unwrap_or_default(),
            )
            .await;
        match response {
            Ok(r) => r.headers().clone(),
            Err(e) => match e {},
        }
    }

    #[tokio::test]
    async fn nosniff_always_hsts_with_tls() {
        let plain = headers_of(false).await;
        assert_eq!(
            plain
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert!(plain.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        let tls = headers_of(true).await;
        assert_eq!(
            tls.get(header::STRICT_TRANSPORT_SECURITY)
                .map(|v| v.as_bytes()),
            Some(HSTS.as_bytes())
        );
    }
}
