//! # spoor-ui: the web UI, embedded
//!
//! The Spoor web UI is a single-page app in `ui/` (TypeScript, built by Vite into `ui/dist`). This
//! crate embeds `ui/dist` into the binary at compile time, so one executable serves the UI on the query
//! HTTP port with no files beside it.
//!
//! ## Building
//!
//! ```text
//! cargo build -p spoor                              # builds ui/dist when needed, embeds it
//! npm --prefix ui ci && npm --prefix ui run build   # the same UI build by hand
//! ```
//!
//! A plain `cargo build` builds the UI too: when `ui/dist` is missing or older than anything in
//! `ui/src`, `ui/public`, `ui/index.html`, `ui/package.json`, `ui/package-lock.json`,
//! `ui/tsconfig.json` or `ui/vite.config.ts`, and npm is on the `PATH`, the build script runs
//! `npm ci` (only when `ui/node_modules` is missing or older than the lockfile) and
//! `npm run build`. It runs npm only when those files changed, never on every build. When it cannot
//! (no npm, or the npm step fails) it prints a cargo warning saying what to run and the crate still
//! compiles: every page is then a short HTML note saying the UI was not built and which command
//! builds it (or the stale `ui/dist` is served). A `ui/dist` built by hand is picked up by the next
//! `cargo build`.
//!
//! Build-time environment: `SPOOR_UI_BUILD=off` never runs npm; `SPOOR_UI_BUILD=require` makes a UI
//! that cannot be built a build error (for release packaging); `SPOOR_UI_DIST=/some/dir` embeds
//! another directory as it is.
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
// The build script's decision (build/plan.rs), tested here: build scripts have no tests of their own.
#[cfg(test)]
#[path = "../build/plan.rs"]
mod build_plan;
#[cfg(test)]
mod build_plan_tests;

pub use assets::{Asset, asset};
