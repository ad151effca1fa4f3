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
}
