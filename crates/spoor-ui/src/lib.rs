//! # spoor-ui: the web UI, embedded
//!
//! The Spoor web UI is a single-page app in `ui/` (TypeScript, built by Vite into `ui/dist`). This
//! crate embeds `ui/dist` into the binary at compile time, so one executable serves the UI on the query
//! HTTP port with no files beside it.
//!
//! ## Building
//!
//! ```text
//! npm --prefix ui ci && npm --prefix ui run build   # writes ui/dist
//! cargo build -p spoor                              # embeds it
//! ```
//!
//! A rebuilt `ui/dist` is picked up by the next `cargo build`. Without `ui/dist` the crate still
//! compiles and every page is a short HTML note saying the UI was not built and which command builds
//! it. `SPOOR_UI_DIST=/some/dir` at build time embeds another directory instead.
//!
//! ## Serving
//!
//! [`asset`] takes a request path without its leading slash and returns the bytes, the
//! `Content-Type` and whether the response may be cached forever (Vite's content-hashed
//! `assets/*` files). Paths that look like client routes (`search`, `trace/{id}`,
//! `trace/{a}...{b}`, `dependencies`, or anything whose last segment has no file extension) return
//! `index.html`, so deep links and bookmarks work; unknown files (and anything under `api/`) return
//! `None`, which the router turns into a 404.
//!
//! ```
//! let page = spoor_ui::asset("trace/4bf92f3577b34da6a3ce929d0e0e4736").expect("client route");
//! assert_eq!(page.content_type, "text/html; charset=utf-8");
//! assert!(!page.cache_immutable);
//! assert!(spoor_ui::asset("assets/missing-0000.js").is_none());
//! ```
//!
//! ## What it is not
//!
//! No HTTP server and no routing: the API crate mounts [`asset`] behind its `/api` routes. No
//! compression: the bytes are as Vite wrote them.

mod assets;

pub use assets::{Asset, asset};
