//! The standard receiver counters for the OTLP signals other than traces: metric data points and
//! log records, under the same scheme as spans
//! (`spoor_receiver_metric_points_{received,accepted,refused,dropped}_total{receiver,transport}`,
//! `spoor_receiver_log_records_…`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// A signal other than traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    Metrics,
    Logs,
}

impl SignalKind {
    /// What one item of the signal is called in metric names (`metric_points`).
    pub fn items(self) -> &'static str {
        match self {
            SignalKind::Metrics => "metric_points",
            SignalKind::Logs => "log_records",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    receiver: String,
    transport: String,
}

#[derive(Clone, Default)]
struct Families {
    received: Family<Labels, Counter>,
    accepted: Family<Labels, Counter>,
    refused: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
}

impl Families {
    fn register(registry: &mut Registry, kind: SignalKind) -> Self {
        let f = Self::default();
        let items = kind.items();
        let what = items.replace('_', " ");
        registry.register(
            format!("receiver_{items}_received"),
            format!("OTLP {what} decoded by a receiver"),
            f.received.clone(),
        );
        registry.register(
            format!("receiver_{items}_accepted"),
            format!("OTLP {what} a receiver handed to a pipeline and acknowledged"),
            f.accepted.clone(),
        );
        registry.register(
            format!("receiver_{items}_refused"),
            format!("OTLP {what} refused with an error answered to the client"),
            f.refused.clone(),
        );
        registry.register(
            format!("receiver_{items}_dropped"),
            format!(
                "OTLP {what} acknowledged but dropped because no pipeline of that signal takes them"
            ),
            f.dropped.clone(),
        );
        f
    }
}

#[derive(Clone)]
pub(crate) struct SignalFamilies {
    metrics: Families,
    logs: Families,
}

impl SignalFamilies {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        Self {
            metrics: Families::register(registry, SignalKind::Metrics),
            logs: Families::register(registry, SignalKind::Logs),
        }
    }

    pub(crate) fn for_labels(
        &self,
        kind: SignalKind,
        receiver: &str,
        transport: &str,
    ) -> SignalMetrics {
        let f = match kind {
            SignalKind::Metrics => &self.metrics,
            SignalKind::Logs => &self.logs,
        };
        let labels = Labels {
            receiver: receiver.to_string(),
            transport: transport.to_string(),
        };
        SignalMetrics {
            received: f.received.get_or_create(&labels).clone(),
            accepted: f.accepted.get_or_create(&labels).clone(),
            refused: f.refused.get_or_create(&labels).clone(),
            dropped: f.dropped.get_or_create(&labels).clone(),
        }
    }
}

/// The counters of one receiver for one signal. Clone freely.
#[derive(Clone)]
pub struct SignalMetrics {
    received: Counter,
    accepted: Counter,
    refused: Counter,
    dropped: Counter,
}

impl SignalMetrics {
    /// `items` data points or log records were decoded.
    pub fn received(&self, items: u64) {
        self.received.inc_by(items);
    }

    /// `items` were handed to a pipeline and acknowledged.
    pub fn accepted(&self, items: u64) {
        self.accepted.inc_by(items);
    }

    /// `items` were refused and the client was told.
    pub fn refused(&self, items: u64) {
        self.refused.inc_by(items);
    }

    /// `items` were acknowledged but dropped (no pipeline of their signal).
    pub fn dropped(&self, items: u64) {
        self.dropped.inc_by(items);
    }
}
