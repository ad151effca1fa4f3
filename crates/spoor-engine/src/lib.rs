//! Spoor's durable storage engine (work in progress).

mod block;
mod catalog;
mod config;
mod engine;
mod error;
mod head;
mod maintenance;
mod manifest;
mod metrics;
mod read;
mod store;
mod tools;
mod wal;

pub use block::{FORMAT_VERSION, block_schema};
pub use config::{Clock, CompactionConfig, EngineConfig, FsyncPolicy, ManualClock, SystemClock};
pub use engine::{Engine, RecoveryReport};
pub use manifest::{BlockMeta, CatalogEntry, CatalogOp, Manifest};
pub use tools::{VerifyReport, inspect_block, verify};
