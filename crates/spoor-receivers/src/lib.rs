//! Spoor's receivers.
//!
//! A receiver listens on a socket, decodes one wire protocol, translates what it decodes into the
//! OTLP model, hands batches to a [`TraceSink`](spoor_model::TraceSink) and answers the client.
//! Each is a config struct (serde, `deny_unknown_fields`, defaults) with
//! `build(&self, ReceiverContext) -> Result<RunningReceiver, ReceiverError>`; the table of all of
//! them is [`ReceiverConfig`].
//!
//! Every receiver: counts received/accepted/refused/dropped spans, bytes and request errors by
//! reason through [`spoor_telemetry::ReceiverMetrics`]; caps request bodies (16 MiB after
//! decompression by default, zip bombs included); answers bad input with 400/413/415 or
//! INVALID_ARGUMENT and overload with 429/RESOURCE_EXHAUSTED; never stops listening because of
//! bad input; stops accepting and drains when the context's shutdown token fires.
//!
//! ```no_run
//! # async fn demo(ctx: spoor_receivers::ReceiverContext) -> Result<(), spoor_receivers::ReceiverError> {
//! use spoor_receivers::{OtlpGrpcConfig, ReceiverConfig};
//! let running = ReceiverConfig::OtlpGrpc(OtlpGrpcConfig::default()).build(ctx).await?;
//! println!("listening on {}", running.local_addr);
//! # Ok(()) }
//! ```
//!
//! Receivers do not store, sample or batch: that is the sink's business.

pub mod body;
mod component;
mod otlp;
mod registry;
pub mod status;

pub use component::{ReceiverContext, ReceiverError, RunningReceiver};
pub use otlp::{OtlpGrpcConfig, OtlpHttpConfig, Rejected, drop_invalid_spans};
pub use registry::ReceiverConfig;
