//! Spoor's query layer.
//!
//! [`QueryService`] answers what every query API needs (trace by id, search, services,
//! operations, dependencies) from a [`SpanReader`](spoor_storage::SpanReader), and
//! [`jaeger`] converts OTLP traces into the Jaeger trace model the way Jaeger itself does
//! (tags from span kind, status, scope and dropped counts; events as logs; parent and links as
//! references; one process per distinct resource). The API crate serialises these models for
//! HTTP JSON and gRPC.
//!
//! ```
//! use spoor_query::jaeger;
//! let trace = jaeger::Trace::from_otlp(&[]);
//! assert!(trace.spans.is_empty());
//! ```
//!
//! It never parses HTTP and never touches files or object stores directly.

pub mod jaeger;
mod service;

pub use service::{QueryError, QueryService};
