//! The synchronous span processors, one module per Collector processor type.
//!
//! Each processor has a config type (serde, `deny_unknown_fields`, the Collector's option names
//! and defaults) whose `build()` validates everything up front and returns the
//! [`SpanProcessor`](crate::SpanProcessor). For the registry:
//!
//! | type | config |
//! |---|---|
//! | `attributes` | [`AttributesConfig`] |
//! | `resource` | [`ResourceConfig`] |
//! | `span` | [`SpanConfig`] |
//! | `redaction` | [`RedactionConfig`] |
//! | `filter` | [`FilterConfig`] |
//! | `transform` | [`TransformConfig`] |
//! | `probabilistic_sampler` | [`ProbabilisticSamplerConfig`] |
//!
//! `tail_sampling` ([`tail_sampling::TailSamplingConfig`]) is not synchronous: it buffers
//! whole traces and decides later, so the pipeline runs it as its own stage.

mod actions;
mod attributes;
mod common;
mod error_mode;
mod filter;
mod matching;
pub mod ottl;
mod probabilistic_sampler;
mod redaction;
mod resource;
mod span;
pub mod tail_sampling;
mod transform;

#[cfg(test)]
mod chain_tests;

pub use attributes::AttributesConfig;
pub use error_mode::ErrorMode;
pub use filter::FilterConfig;
pub use probabilistic_sampler::ProbabilisticSamplerConfig;
pub use redaction::{
    BEARER_TOKEN_PATTERN, CARD_NUMBER_PATTERN, EMAIL_PATTERN, RedactionConfig, SQL_LITERAL_PATTERN,
};
pub use resource::ResourceConfig;
pub use span::SpanConfig;
pub use transform::TransformConfig;
