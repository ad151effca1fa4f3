//! Connectors that turn traces into metrics.
//!
//! - `spanmetrics` ([`SpanMetricsConfig`]): calls and a duration histogram per service, span
//!   name, span kind and status code (plus configured dimensions), weighted by
//!   1/sampling-probability ([`sampling_weight`]), with a cardinality limit and an overflow
//!   series. As a connector it emits OTLP metrics into the metrics pipelines that list it as a
//!   receiver; the same aggregator also runs in front of the embedded store so `/metrics` on the
//!   admin port carries the RED series with no config at all ([`Red`]).
//! - Service graph ([`ServiceGraph`]): client/server and producer/consumer pairs, with virtual
//!   nodes for uninstrumented peers, as `traces_service_graph_*` on `/metrics`; its edges are
//!   also counted per minute in spoor-query's `DependencyStore` for `/api/dependencies`, saved
//!   in the data directory by [`dependencies_file`].
//!   As the `servicegraph` connector ([`ServiceGraphConnectorConfig`]) the same aggregator emits
//!   the Collector's `traces_service_graph_*` OTLP metrics into metrics pipelines.
//! - Trace-level metrics ([`TraceMetrics`]): a trace is complete after an idle period; then
//!   `jaeger_trace_duration_seconds`, `jaeger_traces_total` and `jaeger_trace_errors_total` per
//!   root service and operation, and the Jaeger collector names the seeds chart.

pub mod dependencies_file;
mod exponential;
mod openmetrics;
mod red;
mod sampling;
mod servicegraph;
mod servicegraph_connector;
mod spanmetrics;
mod trace_metrics;

pub(crate) use red::SpanMetricsConnector;
pub use red::{Red, RedSink};
pub use sampling::sampling_weight;
pub use servicegraph::{ServiceGraph, ServiceGraphConfig};
pub(crate) use servicegraph_connector::ServiceGraphConnector;
pub use servicegraph_connector::{
    ServiceGraphConnectorConfig, StoreConfig as ServiceGraphStoreConfig,
};
pub use spanmetrics::{SpanMetrics, SpanMetricsConfig};
pub use trace_metrics::{TraceMetrics, TraceMetricsConfig};

#[cfg(test)]
mod tests;
