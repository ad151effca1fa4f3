//! Spoor's storage.
//!
//! The contract is a pair of traits: [`SpanWriter`] takes OTLP batches, [`SpanReader`] answers
//! trace-by-id, search, the service/operation catalog and dependencies, returning traces in the
//! OTLP model. Every backend implements both and must pass the same conformance suite.
//! Search is a narrow scan contract ([`ScanRequest`], see [`scan`]): time, service, span name,
//! duration, neutral [`SpanPredicate`]s on attributes by scope, status, kind and scope, and a
//! trace-id set; a trace answers when one of its spans satisfies every condition.
//! [`ScanRequest::matches_parts`] is the reference every backend agrees with.
//! Storage knows no query language: Jaeger's tags, TraceQL and SQL are the query layer's.
//!
//! ```
//! # tokio_test_block(async {
//! use spoor_storage::{MemoryStore, ScanRequest, SpanReader, SpanWriter};
//! let store = MemoryStore::new(1000);
//! store.write(vec![]).await.unwrap();
//! assert!(store.scan(&ScanRequest::default()).await.unwrap().is_empty());
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
mod memory;
mod query;
pub mod scan;

pub use error::StorageError;
pub use memory::MemoryStore;
pub use query::{DependencyLink, Operation, OperationQuery, TimeRange, Trace};
pub use scan::{AttrScope, ScanRequest, SpanPredicate, ValueMatch};

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

    /// Traces with at least one span satisfying every condition of `request` (exactly those
    /// [`ScanRequest::matches_parts`] selects), newest first by their earliest matching span,
    /// at most [`ScanRequest::effective_limit`]. Whole traces are returned, every span of them.
    async fn scan(&self, request: &ScanRequest) -> Result<Vec<Trace>, StorageError>;

    /// The ids of what [`SpanReader::scan`] would return, in the same order.
    async fn scan_ids(&self, request: &ScanRequest) -> Result<Vec<TraceId>, StorageError>;

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
