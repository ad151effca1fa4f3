//! Spoor's collector pipeline, configured like the OpenTelemetry Collector.
//!
//! Receivers hand batches to the pipeline through [`TraceSink`](spoor_model::TraceSink); the
//! pipeline runs its processors and fans batches out to exporters (the embedded store is one).
//! This crate owns the component contracts, the one registry table ([`registry::REGISTRY`]),
//! config parsing and validation ([`config::load`]), and assembly ([`Graph`]).
//!
//! ```
//! use spoor_pipeline::config::{Source, load};
//! let yaml = "receivers:\n  otlp:\n    protocols:\n      grpc:\nprocessors:\n  batch:\n\
//!             exporters:\n  spoor:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n\
//!             \x20     processors: [batch]\n      exporters: [spoor]\n";
//! let config = load(&[Source { name: "c.yaml".into(), text: yaml.into() }], &|_| None).unwrap();
//! assert_eq!(config.service.pipelines.len(), 1);
//! ```
//!
//! It is not a receiver crate: listeners live in `spoor-receivers`; their YAML options are
//! mapped onto those configs here ([`receivers`]).

mod batch;
pub mod config;
pub mod connectors;
#[cfg(test)]
mod docs_check;
mod entry;
pub mod exporters;
pub mod extensions;
mod graph;
mod memory_limiter;
mod metrics;
mod processor;
pub mod processors;
pub mod receivers;
pub mod registry;
mod signals;

pub use batch::BatchConfig;
pub use graph::{BuildContext, BuildError, Graph};
pub use memory_limiter::MemoryLimiterConfig;
pub use processor::{ConfigError, ProcessError, SpanProcessor};
