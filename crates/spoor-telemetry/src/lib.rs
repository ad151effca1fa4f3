//! Spoor's self-telemetry.
//!
//! One [`Telemetry`] handle owns the Prometheus registry. Components get their counters from it:
//! every receiver uses [`ReceiverMetrics`] so all of them report the same series under one naming
//! scheme (`spoor_receiver_*{receiver, transport}`); other parts register their own metrics with
//! [`Telemetry::register`]. [`Telemetry::render`] produces the Prometheus text format served on
//! the admin port at `/metrics`.
//!
//! ```
//! let telemetry = spoor_telemetry::Telemetry::new();
//! let m = telemetry.receiver("otlp", "grpc");
//! m.received(3, 120);
//! m.accepted(3);
//! assert!(telemetry.render().contains("spoor_receiver_spans_accepted_total{receiver=\"otlp\",transport=\"grpc\"} 3"));
//! ```
//!
//! [`MemoryLimiter`] is the process's one memory limit (`--memory-limit`), measured from RSS.
//!
//! It is not a tracing exporter: Spoor does not trace itself yet.

mod memory;
mod receiver;
mod signal;

pub use memory::{
    DEFAULT_SAMPLE_INTERVAL, IN_FLIGHT_WAIT, MemoryLimiter, Refusal, RequestPermit,
    available_memory, current_rss,
};
pub use receiver::ReceiverMetrics;
pub use signal::{SignalKind, SignalMetrics};

use std::sync::Arc;

use parking_lot::Mutex;
pub use prometheus_client::metrics;
use prometheus_client::registry::{Metric, Registry};

/// A cheaply clonable handle to the process's metrics registry.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    receivers: receiver::ReceiverFamilies,
    signals: signal::SignalFamilies,
    renderers: Arc<Mutex<Vec<Renderer>>>,
}

/// Appends metric families of its own to the exposition (see [`Telemetry::add_renderer`]).
pub type Renderer = Arc<dyn Fn(&str, &mut String) + Send + Sync>;

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("spoor");
        let receivers = receiver::ReceiverFamilies::register(&mut registry);
        let signals = signal::SignalFamilies::register(&mut registry);
        Self {
            registry: Arc::new(Mutex::new(registry)),
            receivers,
            signals,
            renderers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The standard counters for one receiver on one transport.
    pub fn receiver(&self, receiver: &str, transport: &str) -> ReceiverMetrics {
        self.receivers.for_labels(receiver, transport)
    }

    /// The standard counters of one receiver on one transport for metric points or log records.
    pub fn signal_receiver(
        &self,
        kind: SignalKind,
        receiver: &str,
        transport: &str,
    ) -> SignalMetrics {
        self.signals.for_labels(kind, receiver, transport)
    }

    /// Registers a metric under `spoor_<name>`.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry.lock().register(name, help, metric);
    }

    /// Adds families written without the `spoor_` prefix (metrics computed from traces, the
    /// Jaeger names the seeds use). The renderer gets the registry's text so far (to alias a
    /// series) and appends OpenMetrics text: complete families, no `# EOF`.
    pub fn add_renderer(&self, renderer: Renderer) {
        self.renderers.lock().push(renderer);
    }

    /// The registry in Prometheus text exposition format (OpenMetrics), then every renderer's
    /// families.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry.lock());
        let renderers = self.renderers.lock().clone();
        if renderers.is_empty() {
            return out;
        }
        let registry = out.strip_suffix("# EOF\n").unwrap_or(&out).to_string();
        let mut extra = String::new();
        for r in renderers {
            r(&registry, &mut extra);
        }
        let mut all = registry;
        all.push_str(&extra);
        all.push_str("# EOF\n");
        all
    }
}
