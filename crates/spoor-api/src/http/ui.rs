//! The embedded UI's pages and assets, with security headers: a Content-Security-Policy that
//! admits only the page's own scripts (the inline ones by their SHA-256 hash, as Vite leaves the
//! theme script inline), `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The policy for everything but the inline scripts, which are added by hash.
const CSP_BASE: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The body of every `<script>` without a `src` attribute.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_start = tag_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") && !tag.contains(" src =") {
            out.push(&after[body_start..body_start + close]);
        }
        rest = &after[body_start + close..];
    }
    out
}

/// The Content-Security-Policy for an HTML page.
fn csp_for(html: &str) -> String {
    let mut script_src = String::from("script-src 'self'");
    for script in inline_scripts(html) {
        let digest = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
        script_src.push_str(&format!(
            " 'sha256-{}'",
            spoor_model::attr::base64_encode(digest.as_ref())
        ));
    }
    format!("{CSP_BASE}; {script_src}")
}

pub async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some(asset) = spoor_ui::asset(path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let cache = if asset.cache_immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let csp = asset
        .content_type
        .starts_with("text/html")
        .then(|| csp_for(&String::from_utf8_lossy(&asset.bytes)));
    let mut response = asset.bytes.into_owned().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(csp) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = "<head><script>var a = 1;</script><script type=\"module\" src=\"/x.js\"></script></head>";
        assert_eq!(inline_scripts(html), vec!["var a = 1;"]);
        let csp = csp_for(html);
        // sha256("var a = 1;") in base64, as `openssl dgst -sha256 -binary | base64` prints it.
        assert!(
            csp.ends_with(
                "script-src 'self' 'sha256-+dZ6udsWxNVoGfScAq7t5IIF5UJb4F6RhjbN6oe1p4w='"
            ),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(
            csp_for("<p>no scripts</p>"),
            format!("{CSP_BASE}; script-src 'self'")
        );
    }
}
