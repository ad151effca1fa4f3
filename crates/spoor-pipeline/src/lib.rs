//! Spoor's collector pipeline, configured like the OpenTelemetry Collector.
//!
//! Receivers hand batches to the pipeline through [`TraceSink`](spoor_model::TraceSink); the
//! pipeline runs its processors and fans batches out to exporters (the embedded store is one).
//! This crate owns the component contracts, the one registry table, config parsing and validation.
//!
//! Work in progress: this first cut holds the synchronous span-processor contract.

mod processor;
pub mod processors;

pub use processor::{ConfigError, ProcessError, SpanProcessor};
