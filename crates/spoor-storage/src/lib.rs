//! Spoor's storage.
//!
//! The contract is a pair of traits: [`SpanWriter`] takes OTLP batches, [`SpanReader`] answers
//! trace-by-id, search, the service/operation catalog and dependencies, returning traces in the
//! OTLP model. Every backend implements both and must pass the same conformance suite.
//! [`SpanMatcher`] holds the search semantics (a trace matches when one of its spans satisfies
//! every condition) so every backend applies them identically.
//!
//! ```
//! # tokio_test_block(async {
//! use spoor_storage::{MemoryStore, SpanReader, SpanWriter, TraceQuery};
//! let store = MemoryStore::new(1000);
//! store.write(vec![]).await.unwrap();
//! assert!(store.find_traces(&TraceQuery::default()).await.unwrap().is_empty());
//! # });
//! # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! Storage never parses HTTP or protocol payloads: it sees OTLP types only.

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod matcher;
mod memory;
mod query;

pub use error::StorageError;
pub use matcher::{SpanMatcher, synthetic_tag};
pub use memory::MemoryStore;
pub use query::{DependencyLink, Operation, OperationQuery, TimeRange, Trace, TraceQuery};

use spoor_model::{ResourceSpans, TraceId};

/// Accepts spans for storage.
///
/// Contract: may be called concurrently; the batch is moved in; the future resolves once the
/// batch is durable under the backend's policy (for the memory backend: immediately) and
/// visible to readers. On error nothing of the batch is guaranteed stored.
#[async_trait::async_trait]
pub trait SpanWriter: Send + Sync + 'static {
    async fn write(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError>;
}

/// Reads traces back.
///
/// Contract: may be called concurrently with writes; sees every write whose future has resolved.
/// Returned traces group spans by resource and scope (OTLP model), in no particular span order.
#[async_trait::async_trait]
pub trait SpanReader: Send + Sync + 'static {
    /// One trace by id; `window` is an optional hint that bounds the search.
    async fn get_trace(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError>;

    /// Service names seen, sorted.
    async fn get_services(&self) -> Result<Vec<String>, StorageError>;

    /// Operations of a service (optionally of one span kind), sorted by name then kind.
    async fn get_operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError>;

    /// Traces with at least one span satisfying every condition of `query`, newest first,
    /// at most `query.limit` (0 means the backend default of 20).
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError>;

    /// The ids of what [`SpanReader::find_traces`] would return, in the same order.
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError>;

    /// Parent→child service call counts for spans starting in `[end - lookback, end]`
    /// (unix nanoseconds).
    async fn get_dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, StorageError>;
}

/// A backend that both writes and reads.
pub trait SpanStore: SpanWriter + SpanReader {}
impl<T: SpanWriter + SpanReader> SpanStore for T {}
