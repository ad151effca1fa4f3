//! The `prometheus` exporter: a metrics pipeline served in the Prometheus text format on its own
//! endpoint (`GET /metrics`), for a Prometheus server to scrape. What becomes which series is
//! described in `prometheus_state.rs`.
//!
//! ```yaml
//! exporters:
//!   prometheus:
//!     endpoint: 0.0.0.0:8889
//!     namespace: app
//!     const_labels: {cluster: eu-1}
//!     metric_expiration: 5m
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_model::SinkError;
use spoor_receivers::{SignalBatch, SignalSink};
use tokio_util::sync::CancellationToken;

use super::prometheus_state::{Accumulator, Options};
use crate::ConfigError;
use crate::config::Duration;
use crate::receivers::resolve_endpoint;
use crate::registry::{ComponentConfig, Spec};

/// `resource_to_telemetry_conversion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    /// Copy every resource attribute onto every series as a label.
    pub enabled: bool,
}

/// Options of the `prometheus` exporter (the Collector's names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Where the scrape endpoint listens (`host:port`); required.
    pub endpoint: String,
    /// Prefixed to every metric name (`<namespace>_`).
    pub namespace: String,
    /// Labels added to every series.
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's timestamp.
    pub send_timestamps: bool,
    /// A series not updated for this long disappears.
    pub metric_expiration: Duration,
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Answer OpenMetrics 1.0 when the scraper asks for it (`Accept: application/openmetrics-text`).
    pub enable_open_metrics: bool,
    /// Unit and type suffixes (`_seconds`, `_total`, `_ratio`).
    pub add_metric_suffixes: bool,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            namespace: String::new(),
            const_labels: BTreeMap::new(),
            send_timestamps: false,
            metric_expiration: Duration::from_secs(300),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            enable_open_metrics: false,
            add_metric_suffixes: true,
        }
    }
}

impl ComponentConfig for PrometheusConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.endpoint.trim().is_empty() {
            errors.push(ConfigError::new(
                "endpoint",
                "required: where Prometheus scrapes, e.g. 0.0.0.0:8889",
            ));
        } else if let Err(e) = resolve_endpoint(&self.endpoint) {
            errors.push(ConfigError::new("endpoint", e));
        }
        if self.metric_expiration.get().is_zero() {
            errors.push(ConfigError::new(
                "metric_expiration",
                "must be greater than zero",
            ));
        }
        errors
    }

    fn into_spec(self) -> Spec {
        Spec::Prometheus(self)
    }
}

impl PrometheusConfig {
    fn options(&self) -> Options {
        Options {
            namespace: self.namespace.clone(),
            const_labels: self
                .const_labels
                .iter()
                .map(|(k, v)| (super::prometheus_names::label_name(k), v.clone()))
                .collect(),
            send_timestamps: self.send_timestamps,
            expiration: self.metric_expiration.get(),
            resource_to_telemetry: self.resource_to_telemetry_conversion.enabled,
            add_suffixes: self.add_metric_suffixes,
        }
    }
}

/// The running exporter: the accumulated series, written into by the pipeline and read by
/// scrapes.
pub struct PrometheusExporter {
    options: Options,
    open_metrics: bool,
    state: Mutex<Accumulator>,
}

impl PrometheusExporter {
    pub fn new(config: &PrometheusConfig) -> Self {
        Self {
            options: config.options(),
            open_metrics: config.enable_open_metrics,
            state: Mutex::new(Accumulator::default()),
        }
    }

    /// Binds the endpoint and serves scrapes until `shutdown`; returns the bound address.
    pub fn serve(
        self: &Arc<Self>,
        name: &str,
        endpoint: &str,
        shutdown: CancellationToken,
    ) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
        let addr = resolve_endpoint(endpoint)?;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("cannot bind {addr}: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot bind {addr}: {e}"))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot bind {addr}: {e}"))?;
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state(self.clone());
        let name = name.to_string();
        tracing::info!(listener = %name, addr = %local, "listening");
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(exporter = %name, error = %e, "prometheus endpoint failed");
            }
        });
        Ok((local, task))
    }

    /// The current exposition (expired series removed first).
    pub fn render(&self, open_metrics: bool) -> String {
        let mut state = self.state.lock();
        state.expire(self.options.expiration, Instant::now());
        state.render(self.options.send_timestamps, open_metrics)
    }
}

impl PrometheusExporter {
    /// The current exposition in the protobuf format (expired series removed first).
    pub fn render_protobuf(&self) -> Vec<u8> {
        let mut state = self.state.lock();
        state.expire(self.options.expiration, Instant::now());
        super::prometheus_proto::render(&state, self.options.send_timestamps)
    }
}

async fn scrape(State(exporter): State<Arc<PrometheusExporter>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The protobuf format, which alone carries native histograms, when the scraper asks for it
    // (Prometheus with native histograms enabled), as client_golang negotiates.
    if super::prometheus_proto::accepts(accept) {
        let body = exporter.render_protobuf();
        let mut response = body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::prometheus_proto::CONTENT_TYPE),
        );
        return response;
    }
    let open_metrics = exporter.open_metrics && accept.contains("application/openmetrics-text");
    let body = exporter.render(open_metrics);
    let content_type = if open_metrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[async_trait::async_trait]
impl SignalSink for PrometheusExporter {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        if let SignalBatch::Metrics(metrics) = &batch {
            let now = Instant::now();
            let mut state = self.state.lock();
            let before = state.dropped;
            state.add(metrics, &self.options, now);
            if state.dropped > before {
                tracing::debug!(
                    dropped = state.dropped - before,
                    "prometheus exporter: points dropped (non-monotonic delta sums, type clashes or out of order)"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
