//! Spoor's durable storage engine.
//!
//! [`Engine`] implements the storage contract ([`spoor_storage::SpanWriter`] and
//! [`spoor_storage::SpanReader`]) on local disk or object storage:
//!
//! - **Write path.** A `write` is framed into the write-ahead log (checksummed records in local
//!   segment files; concurrent writers share one write and fsync — group commit), then added to
//!   the in-memory *head*, where it is queryable at once. The future resolves only then, as
//!   durable as [`FsyncPolicy`] promises (default: `Interval(100 ms)`, which survives `kill -9`).
//! - **Blocks.** The head is cut every `block_cut_interval` (60 s) or `block_cut_bytes`
//!   (64 MiB) into an immutable Parquet block — one row per span, sorted by trace id, common
//!   attributes in typed columns, zstd, statistics and a trace-id bloom filter — and recorded in
//!   a versioned manifest written with conditional puts. The WAL before the cut is deleted.
//! - **Background work.** Compaction merges small blocks of one time window; retention drops
//!   whole blocks older than `retention` (72 h). Both are crash-safe: new files first, then
//!   the manifest, then deletions.
//! - **Reads.** Trace by id prunes blocks by time and trace-id range, row groups by statistics
//!   and bloom filter, and merges the head. A scan (`spoor_storage::ScanRequest`) prunes
//!   blocks by time, service and span name, pushes its neutral predicates into the Parquet scan
//!   as column filters, goes newest first and stops early at the limit. Services and operations come from a catalog kept at ingest; dependencies from
//!   per-block aggregates.
//! - **Recovery, failing safe.** Opening takes `<data_dir>/LOCK` (one process per data dir),
//!   rebuilds the block list from the block files when the newest manifest is unreadable,
//!   drops blocks whose file is missing, and replays the WAL past the last block, scanning
//!   past damaged records and headers for every intact one. A block failing its checksum is
//!   quarantined, never served; a row whose values do not decode is skipped and counted,
//!   the rest of its block served. Nothing a manifest might name is ever deleted: block
//!   files no manifest names are moved to `quarantine/` (see [`repair`]).
//! - **Encryption at rest.** With a [`Keyring`] in [`EngineConfig::keys`], WAL records and
//!   manifest versions are sealed with AES-256-GCM and blocks written with Parquet modular
//!   encryption, each naming its key id; a missing or wrong key is an error naming that id,
//!   never taken for damage.
//!
//! ```no_run
//! # async fn demo() -> Result<(), spoor_storage::StorageError> {
//! use spoor_engine::{Engine, EngineConfig};
//! use spoor_storage::{ScanRequest, SpanReader, SpanWriter};
//!
//! let telemetry = spoor_telemetry::Telemetry::new();
//! let config = EngineConfig {
//!     data_dir: "./spoor-data".into(),
//!     // Blocks in S3 instead of ./spoor-data/store (credentials from the environment):
//!     // storage_url: Some("s3://my-bucket/spoor".into()),
//!     ..EngineConfig::default()
//! };
//! let engine = Engine::open(config, &telemetry).await?;
//! engine.write(vec![/* OTLP ResourceSpans */]).await?;
//! let traces = engine
//!     .scan(&ScanRequest { service: Some("checkout".into()), ..ScanRequest::default() })
//!     .await?;
//! # let _ = traces;
//! engine.shutdown().await?; // cuts the head into a block, stops background tasks
//! # Ok(()) }
//! ```
//!
//! Operators get [`inspect`] (schema, row groups, bytes per column of one block, or the
//! per-column bytes per span summed over a data directory's blocks) and
//! [`verify`] (checksums, manifest against files, WAL records). Metrics are registered as
//! `spoor_engine_*` (blocks, bytes, WAL bytes, head spans, corrupt records and blocks,
//! compactions, retention drops, undecodable rows, missing blocks). The byte layout is in
//! `docs/format-v1.md`, `docs/format-v2.md` and `docs/format-v3.md`.
//!
//! Several processes may share one store with [`ClusterRole`]s: ingest nodes each commit to
//! their own manifest log, one compactor at a time (a lease object) compacts and applies
//! retention across them, and read-only engines merge every log (see `cluster.rs` and
//! `docs/scale-out.md`). What it is not: a query engine (it answers the storage contract;
//! `spoor-query` builds on it).

mod block;
mod catalog;
mod cluster;
mod config;
mod crypto;
mod engine;
mod error;
mod head;
mod maintenance;
mod manifest;
mod metrics;
mod purge;
mod read;
mod repair;
mod replica;
mod store;
mod tools;
mod wal;
mod wire;

pub use block::{FORMAT_VERSION, OLDEST_FORMAT_VERSION, RoundTrip, block_schema, round_trip};
pub use config::{
    Clock, ClusterRole, CompactionConfig, EngineConfig, FsyncPolicy, ManualClock, SystemClock,
};
pub use crypto::{CryptoError, KEY_LEN, Keyring, default_key_id, parse_key, read_key_file};
pub use engine::{Engine, RecoveryReport};
pub use manifest::{BlockMeta, CatalogEntry, CatalogOp, Manifest, Tombstone};
pub use purge::{DeleteFilter, DeleteReport};
pub use repair::{RepairReport, repair};
pub use tools::{VerifyReport, inspect, inspect_block, verify};
