//! Spoor's load generator.
//!
//! It produces *the standard workload* every Spoor performance figure is measured with (see
//! `GOALS.md`): traces of an online shop of ~20 services (frontend, gateways, business services,
//! databases, a cache, a queue and its consumer), heavy-tailed in size (median ~14 spans, p99 a
//! few hundred, rare traces of 10k+), 2–6 levels deep, fan-out 1–10 (tail 50), 10–20 attributes
//! per span from a Zipf-skewed key set, events on ~5 % of spans, ~2–3 % error spans and
//! log-normal per-hop latency (p50 1 ms, p99 100 ms). About 300–400 bytes per span in OTLP
//! protobuf. The same seed always gives the same spans.
//!
//! ```
//! use spoor_loadgen::Workload;
//! let trace = Workload::new(42).next_trace();
//! assert!(!trace.is_empty());
//! let request = Workload::batches(42, 1000).next().expect("endless");
//! assert!(spoor_model::span_count(&request.resource_spans) >= 1000);
//! ```
//!
//! [`run`] sends the workload over OTLP gRPC (rate-limited or flat out, pipelined, pre-encoded
//! on a generator thread) and returns a [`Summary`] of what was acknowledged; [`LoadgenArgs`] is
//! the `spoor loadgen` command line.
//!
//! It is not a correctness checker: it counts acknowledgements, it does not read spans back.

mod attrs;
mod codec;
mod dist;
mod replay;
mod run;
mod summary;
mod topology;
mod workload;

pub use run::{LoadgenArgs, LoadgenError, run};
pub use summary::{Latency, Summary};
pub use topology::{Operation, SERVICES, Service, Tier};
pub use workload::{DEFAULT_ORIGIN_UNIX_NANOS, TimeSource, TraceBuf, Workload};

#[cfg(test)]
mod tests;
