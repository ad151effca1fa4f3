//! The contract of a span processor that rewrites, drops or keeps spans in place.

use spoor_model::ResourceSpans;
use spoor_receivers::SignalBatch;

use crate::config::Signal;

/// A configuration problem found while building a component, with the path of the offending
/// option relative to the component (`actions[0].pattern`); the pipeline prefixes the
/// component's own path (`processors.attributes/pii.`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A processor failed on a batch (the Collector's `error_mode: propagate`). The pipeline refuses
/// the batch with `InvalidInput`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// A synchronous transform of a batch of spans: attribute and resource rewriting, renaming,
/// filtering, redaction, sampling.
///
/// Contract:
/// - Called concurrently from many tasks: implementations are `Sync` and keep per-batch state
///   on the stack.
/// - Does not block or do I/O; costs are proportional to the batch.
/// - Owns the batch and returns what goes on: it may drop spans (and then empty scope and
///   resource entries), change them, or return the batch unchanged. The pipeline counts spans in
///   and out for the standard counters.
pub trait SpanProcessor: Send + Sync + 'static {
    fn process(&self, batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError>;

    /// The signals this processor can be used for; validation refuses it in a pipeline of
    /// another signal. Traces only unless it says more.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    /// Processes a batch of metrics or logs, with the same contract as [`process`]; only called
    /// for a signal in [`signals`](Self::signals).
    ///
    /// [`process`]: Self::process
    fn process_signal(&self, batch: SignalBatch) -> Result<SignalBatch, ProcessError> {
        Ok(batch)
    }
}
