use crate::attr_limits::DroppedAttributes;
use crate::{ErrorKind, ResourceSpans};

/// Why a [`TraceSink`] refused a batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What the sender should do: `Overloaded` means retry later, `InvalidInput` means do not.
    pub kind: ErrorKind,
    /// Lower-case description of what failed.
    pub message: String,
}

impl SinkError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Something that takes batches of spans: the pipeline, a storage writer, a test collector.
///
/// Contract:
/// - May be called concurrently from many tasks; implementations synchronise internally.
/// - The batch is moved in; the sink owns it.
/// - The returned future resolves once the batch is as durable as the sink promises (for the
///   storage writer: in the WAL under the configured fsync policy). Receivers acknowledge the
///   client only after `Ok`.
/// - On `Err`, no span of the batch is guaranteed to be stored; the error kind tells the
///   receiver which status to answer (`Overloaded` → 429 / RESOURCE_EXHAUSTED).
/// - It may wait (back-pressure) but must not block a runtime thread on I/O.
#[async_trait::async_trait]
pub trait TraceSink: Send + Sync + 'static {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError>;

    /// Takes a batch straight from a receiver. The pipeline's entry (spoor-pipeline's
    /// `entry.rs`) overrides this to validate the batch first (spans with invalid ids refused,
    /// attribute values over [`crate::attr_limits`] dropped) and says what it removed, so the
    /// receiver can count it and answer a partial success. The default consumes the batch as is
    /// (a sink that is not an entry expects valid spans).
    /// Returns what was removed together with the result of consuming the rest (on `Err` the
    /// remaining spans were refused).
    async fn ingest(&self, batch: Vec<ResourceSpans>) -> (Ingested, Result<(), SinkError>) {
        (Ingested::default(), self.consume(batch).await)
    }
}

/// What the pipeline's entry removed from a batch before consuming it ([`TraceSink::ingest`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Spans refused as invalid (trace id not 16 or span id not 8 non-zero bytes).
    pub rejected_spans: u64,
    /// The first reason a span was refused, for the client's partial-success message.
    pub first_reason: Option<String>,
    /// Attribute values dropped for depth or count (their spans are kept).
    pub attributes_dropped: DroppedAttributes,
}
