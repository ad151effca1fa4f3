//! `connectors.servicegraph`: the service graph ([`ServiceGraph`], the same code the `spoor`
//! exporter runs for `/metrics` and `/api/dependencies`) as a connector from a traces pipeline
//! to metrics pipelines, with the Collector's options and metric names.

use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram as OtlpHistogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use serde::{Deserialize, Serialize};
use spoor_model::{ResourceSpans, SinkError, TraceSink, attr};
use spoor_receivers::{SignalBatch, SignalSink};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::servicegraph::{ServiceGraph, ServiceGraphConfig};
use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `connectors.servicegraph`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceGraphConnectorConfig {
    /// Bucket bounds of `_server_seconds` and `_client_seconds` (default 2 ms … 4.096 s).
    pub latency_histogram_buckets: Vec<Duration>,
    /// Span (then resource) attributes added as `client_<name>` and `server_<name>` labels.
    pub dimensions: Vec<String>,
    pub store: StoreConfig,
    /// Attributes naming the peer of a client span with no server side, first found wins.
    pub virtual_node_peer_attributes: Vec<String>,
    /// A client span with this attribute is an edge to the database it names.
    pub database_name_attribute: String,
    /// How often the metrics are emitted into the metrics pipelines.
    pub metrics_flush_interval: Duration,
    /// How often waiting half-edges are checked against `store.ttl`.
    pub store_expiration_loop: Duration,
    /// Accepted for compatibility; series are kept for the process's life.
    pub cache_loop: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How long one side of an edge waits for the other.
    pub ttl: Duration,
    /// Most half-edges waiting; spans beyond are dropped (counted).
    pub max_items: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(2),
            max_items: 1000,
        }
    }
}

impl Default for ServiceGraphConnectorConfig {
    fn default() -> Self {
        Self {
            latency_histogram_buckets: Vec::new(),
            dimensions: Vec::new(),
            store: StoreConfig::default(),
            virtual_node_peer_attributes: ["peer.service", "db.name", "db.system"]
                .map(String::from)
                .to_vec(),
            database_name_attribute: "db.name".into(),
            metrics_flush_interval: Duration::from_secs(60),
            store_expiration_loop: Duration::from_secs(2),
            cache_loop: Duration::from_secs(60),
        }
    }
}

impl ComponentConfig for ServiceGraphConnectorConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let b = &self.latency_histogram_buckets;
        if b.windows(2).any(|w| w[0] >= w[1]) || b.iter().any(|d| d.get().is_zero()) {
            errors.push(ConfigError::new(
                "latency_histogram_buckets",
                "buckets must be positive and increasing",
            ));
        }
        for (path, d) in [
            ("store.ttl", &self.store.ttl),
            ("metrics_flush_interval", &self.metrics_flush_interval),
            ("store_expiration_loop", &self.store_expiration_loop),
        ] {
            if d.get().is_zero() {
                errors.push(ConfigError::new(path, "must be greater than 0"));
            }
        }
        if self.store.max_items == 0 {
            errors.push(ConfigError::new(
                "store.max_items",
                "must be greater than 0",
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::ServiceGraph(Box::new(self))
    }
}

impl ServiceGraphConnectorConfig {
    /// The aggregator's settings.
    pub fn graph_config(&self) -> ServiceGraphConfig {
        let default = ServiceGraphConfig::default();
        ServiceGraphConfig {
            ttl: self.store.ttl.get(),
            max_items: self.store.max_items,
            virtual_node_peer_attributes: self.virtual_node_peer_attributes.clone(),
            database_name_attribute: (!self.database_name_attribute.is_empty())
                .then(|| self.database_name_attribute.clone()),
            dimensions: self.dimensions.clone(),
            bounds: if self.latency_histogram_buckets.is_empty() {
                default.bounds.clone()
            } else {
                self.latency_histogram_buckets
                    .iter()
                    .map(|d| d.get().as_secs_f64())
                    .collect()
            },
            ..default
        }
    }
}

/// The Collector's metrics for the edges seen so far (cumulative since `start_unix_nano`).
pub(crate) fn to_otlp(graph: &ServiceGraph, start_unix_nano: u64) -> Vec<ResourceMetrics> {
    let now = now_unix_nano();
    let bounds = graph.bounds().to_vec();
    let (mut total, mut failed, mut server, mut client) = (vec![], vec![], vec![], vec![]);
    graph.with_edges(|edges| {
        let mut keys: Vec<_> = edges.keys().collect();
        keys.sort();
        for k in keys {
            let e = &edges[k];
            let attributes: Vec<_> = k
                .pairs()
                .into_iter()
                .map(|(n, v)| attr::string(&n, v))
                .collect();
            let count = |v: u64| NumberDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: start_unix_nano,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(v as i64)),
                ..Default::default()
            };
            total.push(count(e.total));
            failed.push(count(e.failed));
            for (h, out) in [(&e.server, &mut server), (&e.client, &mut client)] {
                if let Some(h) = h {
                    out.push(HistogramDataPoint {
                        attributes: attributes.clone(),
                        start_time_unix_nano: start_unix_nano,
                        time_unix_nano: now,
                        count: h.count.round() as u64,
                        sum: Some(h.sum),
                        bucket_counts: h.counts.iter().map(|c| c.round() as u64).collect(),
                        explicit_bounds: bounds.clone(),
                        ..Default::default()
                    });
                }
            }
        }
    });
    if total.is_empty() {
        return Vec::new();
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let sum = |name: &str, points| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: cumulative,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let histogram = |name: &str, points| Metric {
        name: name.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(OtlpHistogram {
            data_points: points,
            aggregation_temporality: cumulative,
        })),
        ..Default::default()
    };
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                sum("traces_service_graph_request_total", total),
                sum("traces_service_graph_request_failed_total", failed),
                histogram("traces_service_graph_request_server_seconds", server),
                histogram("traces_service_graph_request_client_seconds", client),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `servicegraph` as the exporter of a traces pipeline: pairs spans, expires waiting halves
/// every `store_expiration_loop`, and every `metrics_flush_interval` hands the cumulative series
/// to the metrics pipelines.
pub(crate) struct ServiceGraphConnector {
    graph: Arc<ServiceGraph>,
}

impl ServiceGraphConnector {
    pub(crate) fn start(
        config: &ServiceGraphConnectorConfig,
        downstream: Arc<dyn SignalSink>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let graph = Arc::new(ServiceGraph::new(config.graph_config()));
        let start = now_unix_nano();
        let flush_every = config.metrics_flush_interval.get();
        let expire_every = config.store_expiration_loop.get();
        let running = graph.clone();
        let task = tokio::spawn(async move {
            let mut flush = tokio::time::interval(flush_every);
            let mut expire = tokio::time::interval(expire_every);
            flush.tick().await;
            loop {
                let stop = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = expire.tick() => {
                        running.expire(Instant::now());
                        continue;
                    }
                    _ = flush.tick() => false,
                };
                let batch = to_otlp(&running, start);
                if !batch.is_empty()
                    && let Err(e) = downstream.consume(SignalBatch::Metrics(batch)).await
                {
                    tracing::warn!(error = %e, "servicegraph: the metrics pipeline refused the flush");
                }
                if stop {
                    break;
                }
            }
        });
        (Self { graph }, task)
    }
}

#[async_trait::async_trait]
impl TraceSink for ServiceGraphConnector {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let observations = self.graph.prepare(&batch);
        self.graph.apply(observations, Instant::now());
        Ok(())
    }
}
