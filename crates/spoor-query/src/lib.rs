//! Spoor's query layer.
//!
//! [`QueryService`] answers what every query API needs (trace by id, search, services,
//! operations, dependencies) from a [`SpanReader`](spoor_storage::SpanReader), and
//! [`jaeger`] converts OTLP traces into the Jaeger trace model the way Jaeger itself does
//! (tags from span kind, status, scope and dropped counts; events as logs; parent and links as
//! references; one process per distinct resource). The API crate serialises these models for
//! HTTP JSON and gRPC; for `/api/traces` it streams [`jaeger::json_chunks`] instead, the same
//! JSON written span by span from views borrowing the OTLP strings.
//!
//! ```
//! use spoor_query::jaeger;
//! let trace = jaeger::Trace::from_otlp(&[]);
//! assert!(trace.spans.is_empty());
//! ```
//!
//! The query layer owns semantics every API shares: searches return at most
//! [`MAX_SEARCH_LIMIT`] traces; identical duplicate spans (same trace id, span id, start and end,
//! as an app exporting through two exporters produces) are returned once, their attributes merged
//! and a warning added when the copies differed; trace summaries ([`TraceSummary`]) and the Deep
//! Dependency Graph ([`QueryService::deep_dependencies`]) are computed here for every API.
//!
//! [`zipkin`] translates OTLP to Zipkin v2 (for the `zipkin` exporter and the Zipkin read API)
//! and holds Zipkin's search semantics; every read gives a Zipkin server span that shares its id
//! with a client span a new id under it, as Jaeger's query does. [`analytics`] compares
//! operations between two windows or versions and computes a trace's critical path.
//! [`sql_analytics`] answers analytics SQL over spans (`SELECT service.name,
//! quantile(duration, 0.99), count(*) FROM spans GROUP BY 1`) with a table.
//!
//! It never parses HTTP and never touches files or object stores directly.

pub mod analytics;
mod ddg;
mod dedup;
pub mod dependencies;
pub mod jaeger;
mod metrics;
pub mod monitor;
pub mod plan;
mod search;
mod service;
pub mod sql;
pub mod sql_analytics;
mod summary;
mod tags;
pub mod traceql;
pub mod zipkin;

pub use ddg::{DdgPath, Focal, MAX_PATHS, PathElem};
pub use dedup::WARNINGS_ATTRIBUTE;
pub use metrics::{MAX_METRICS_SERIES, MAX_METRICS_STEPS, MetricsRange, MetricsSeries};
pub use plan::TraceQuery;
pub use search::{MatchedSpan, MatchedSpanset, PLAN_CANDIDATE_LIMIT, PlanSearch, TraceMatch};
pub use service::{DDG_TRACE_LIMIT, MAX_SEARCH_LIMIT, QueryError, QueryService};
pub use summary::{ServiceSummary, TraceSummary};
pub use tags::{MAX_TAG_VALUES, TAG_SAMPLE_TRACES, TagNames};

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod sql_analytics_tests;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
mod tests;
