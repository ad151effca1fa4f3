use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabels {
    receiver: String,
    transport: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    receiver: String,
    transport: String,
    reason: String,
}

#[derive(Clone)]
pub(crate) struct ReceiverFamilies {
    received: Family<ReceiverLabels, Counter>,
    accepted: Family<ReceiverLabels, Counter>,
    refused: Family<ReceiverLabels, Counter>,
    dropped: Family<ReceiverLabels, Counter>,
    bytes: Family<ReceiverLabels, Counter>,
    requests: Family<ReceiverLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    attributes_dropped: Family<ErrorLabels, Counter>,
}

impl ReceiverFamilies {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let f = Self {
            received: Family::default(),
            accepted: Family::default(),
            refused: Family::default(),
            dropped: Family::default(),
            bytes: Family::default(),
            requests: Family::default(),
            errors: Family::default(),
            attributes_dropped: Family::default(),
        };
        registry.register(
            "receiver_spans_received",
            "Spans decoded by a receiver",
            f.received.clone(),
        );
        registry.register(
            "receiver_spans_accepted",
            "Spans a receiver handed on and acknowledged",
            f.accepted.clone(),
        );
        registry.register(
            "receiver_spans_refused",
            "Spans refused with an error answered to the client (bad input or overload)",
            f.refused.clone(),
        );
        registry.register(
            "receiver_spans_dropped",
            "Spans lost without the client being told (e.g. UDP)",
            f.dropped.clone(),
        );
        registry.register(
            "receiver_bytes_received",
            "Request bytes received on the wire (before decompression)",
            f.bytes.clone(),
        );
        registry.register(
            "receiver_requests",
            "Requests or datagrams received",
            f.requests.clone(),
        );
        registry.register(
            "receiver_request_errors",
            "Requests or datagrams rejected, by reason",
            f.errors.clone(),
        );
        registry.register(
            "receiver_attributes_dropped",
            "Attributes dropped at ingest because their value nests too deep or the span holds too many values, by reason",
            f.attributes_dropped.clone(),
        );
        f
    }

    pub(crate) fn for_labels(&self, receiver: &str, transport: &str) -> ReceiverMetrics {
        let labels = ReceiverLabels {
            receiver: receiver.to_string(),
            transport: transport.to_string(),
        };
        ReceiverMetrics {
            received: self.received.get_or_create(&labels).clone(),
            accepted: self.accepted.get_or_create(&labels).clone(),
            refused: self.refused.get_or_create(&labels).clone(),
            dropped: self.dropped.get_or_create(&labels).clone(),
            bytes: self.bytes.get_or_create(&labels).clone(),
            requests: self.requests.get_or_create(&labels).clone(),
            errors: self.errors.clone(),
            attributes_dropped: self.attributes_dropped.clone(),
            receiver: labels.receiver,
            transport: labels.transport,
        }
    }
}

/// The counters every receiver emits. Clone freely; all clones count into the same series.
#[derive(Clone)]
pub struct ReceiverMetrics {
    received: Counter,
    accepted: Counter,
    refused: Counter,
    dropped: Counter,
    bytes: Counter,
    requests: Counter,
    errors: Family<ErrorLabels, Counter>,
    attributes_dropped: Family<ErrorLabels, Counter>,
    receiver: String,
    transport: String,
}

impl ReceiverMetrics {
    /// A request (or datagram) of `bytes` wire bytes carrying `spans` spans was decoded.
    pub fn received(&self, spans: u64, bytes: u64) {
        self.requests.inc();
        self.received.inc_by(spans);
        self.bytes.inc_by(bytes);
    }

    /// `spans` were handed on successfully.
    pub fn accepted(&self, spans: u64) {
        self.accepted.inc_by(spans);
    }

    /// `spans` were refused and the client was told.
    pub fn refused(&self, spans: u64) {
        self.refused.inc_by(spans);
    }

    /// `spans` were lost and no client could be told.
    pub fn dropped(&self, spans: u64) {
        self.dropped.inc_by(spans);
    }

    /// A request was rejected before or while decoding; `bytes` wire bytes were read.
    pub fn request_error(&self, reason: &str, bytes: u64) {
        self.requests.inc();
        self.bytes.inc_by(bytes);
        self.errors
            .get_or_create(&ErrorLabels {
                receiver: self.receiver.clone(),
                transport: self.transport.clone(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// `count` attributes were dropped at ingest for `reason` (the spans were kept).
    pub fn attributes_dropped(&self, reason: &str, count: u64) {
        if count == 0 {
            return;
        }
        self.attributes_dropped
            .get_or_create(&ErrorLabels {
                receiver: self.receiver.clone(),
                transport: self.transport.clone(),
                reason: reason.to_string(),
            })
            .inc_by(count);
    }

    /// Current count of accepted spans (for tests and summaries).
    pub fn accepted_total(&self) -> u64 {
        self.accepted.get()
    }
}
