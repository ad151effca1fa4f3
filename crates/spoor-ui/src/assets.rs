//! Lookup of embedded files, content types and the client-route fallback.

use std::borrow::Cow;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// One embedded file, ready to be sent.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// True for content-hashed files (`assets/…`), which may be cached for a year.
    pub cache_immutable: bool,
}

/// First path segments of the app's client-side routes.
const CLIENT_ROUTES: &[&str] = &["search", "trace", "compare", "dependencies", "upload"];

/// Path without leading slash, e.g. "assets/index-abc.js". Unknown paths that look like client routes
/// (no file extension) return index.html so deep links work; unknown files return None.
pub fn asset(path: &str) -> Option<Asset> {
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_start_matches('/');
    if path.is_empty() || path == "index.html" {
        return Some(index());
    }
    if let Some(bytes) = lookup(path) {
        return Some(Asset {
            bytes: Cow::Borrowed(bytes),
            content_type: content_type(path),
            cache_immutable: path.starts_with("assets/"),
        });
    }
    if is_client_route(path) {
        Some(index())
    } else {
        None
    }
}

fn lookup(path: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, bytes)| *bytes)
}

fn is_client_route(path: &str) -> bool {
    if path == "api" || path.starts_with("api/") {
        return false;
    }
    let first = path.split('/').next().unwrap_or_default();
    if CLIENT_ROUTES.contains(&first) {
        return true;
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

fn index() -> Asset {
    let bytes =
        lookup("index.html").map_or(Cow::Borrowed(NOT_BUILT_PAGE.as_bytes()), Cow::Borrowed);
    Asset {
        bytes,
        content_type: "text/html; charset=utf-8",
        cache_immutable: false,
    }
}

/// Served for every page when the binary was built without `ui/dist`.
const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spoor: UI not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}code{background:#eee;padding:2px 5px}</style>
</head><body>
<h1>The Spoor web UI was not built</h1>
<p>This binary was compiled without <code>ui/dist</code>, most likely because npm was not found (cargo printed a warning saying why). The query API under <code>/api/</code> works as usual.</p>
<p>With Node.js 20+ and npm on the <code>PATH</code>, <code>cargo build -p spoor</code> builds the UI and embeds it. By hand:</p>
<pre><code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build
cargo build -p spoor</code></pre>
</body></html>
"#;

fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(a: &Asset) -> String {
        String::from_utf8_lossy(&a.bytes).into_owned()
    }

    #[test]
    fn root_and_index_are_html_and_not_immutable() {
        for p in ["", "/", "index.html", "/index.html"] {
            let a = asset(p).expect("index");
            assert_eq!(a.content_type, "text/html; charset=utf-8", "{p}");
            assert!(!a.cache_immutable, "{p}");
        }
    }

    #[test]
    fn client_routes_fall_back_to_index() {
        let index = html(&asset("").expect("index"));
        for p in [
            "search",
            "search?service=frontend&lookback=1h",
            "trace/4bf92f3577b34da6a3ce929d0e0e4736",
            "trace/4bf92f3577b34da6...00f067aa0ba902b7",
            "trace/abc.def",
            "dependencies",
            "compare",
            "upload",
            "some/unknown/page",
        ] {
            let a = asset(p).unwrap_or_else(|| panic!("{p} should fall back to index.html"));
            assert_eq!(html(&a), index, "{p}");
            assert!(!a.cache_immutable);
        }
    }

    #[test]
    fn unknown_files_and_api_paths_are_not_found() {
        for p in [
            "assets/index-00000000.js",
            "favicon.ico.gz",
            "robots.txt",
            "api",
            "api/traces",
            "api/services/x",
        ] {
            assert!(asset(p).is_none(), "{p} should be None");
        }
    }

    #[test]
    fn embedded_files_are_served_with_their_type() {
        for (name, bytes) in FILES {
            let a = asset(name).expect("embedded file");
            assert_eq!(&*a.bytes, *bytes);
            assert_eq!(a.cache_immutable, name.starts_with("assets/"));
            if name.ends_with(".js") {
                assert_eq!(a.content_type, "text/javascript; charset=utf-8");
            }
        }
    }

    #[test]
    fn without_a_build_the_page_says_how_to_build() {
        assert!(NOT_BUILT_PAGE.contains("npm --prefix ui ci &amp;&amp; npm --prefix ui run build"));
        if lookup("index.html").is_none() {
            assert!(html(&asset("search").expect("page")).contains("was not built"));
        } else {
            assert!(!html(&asset("search").expect("page")).contains("was not built"));
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a/b.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("x.svg"), "image/svg+xml");
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
