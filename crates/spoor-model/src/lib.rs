//! Spoor's in-flight data model.
//!
//! Spans travel through Spoor as OTLP protobuf types (`opentelemetry-proto`): every receiver
//! translates what it decodes into [`ResourceSpans`], the pipeline rewrites them, and storage
//! writers take them. This crate re-exports those types, adds the identifiers ([`TraceId`],
//! [`SpanId`]), attribute helpers, the [`ErrorKind`] every crate's errors map to, and the
//! [`TraceSink`] contract between a producer of spans and whatever consumes them.
//!
//! ```
//! use spoor_model::{TraceId, attr};
//! let id: TraceId = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
//! assert_eq!(id.to_string(), "0102030405060708090a0b0c0d0e0f10");
//! let kv = attr::string("service.name", "frontend");
//! assert_eq!(attr::value_to_string(kv.value.as_ref()), "frontend");
//! ```
//!
//! It is not a storage format: the at-rest model is Arrow/Parquet, owned by `spoor-storage`.

pub mod attr;
pub mod attr_limits;
mod error;
mod ids;
pub mod otlp_json;
mod sink;
mod span_ext;

pub use error::ErrorKind;
pub use ids::{IdError, SpanId, TraceId};
pub use sink::{Ingested, SinkError, TraceSink};
pub use span_ext::{SpanRecord, service_name, span_count, span_kind_from_name, span_kind_name};

/// OTLP trace collector service (`ExportTraceServiceRequest` and the gRPC server).
pub use opentelemetry_proto::tonic::collector::trace::v1 as otlp_collector;
/// OTLP common types (`AnyValue`, `KeyValue`, `InstrumentationScope`).
pub use opentelemetry_proto::tonic::common::v1 as otlp_common;
/// OTLP resource type.
pub use opentelemetry_proto::tonic::resource::v1 as otlp_resource;
/// OTLP trace types (`opentelemetry.proto.trace.v1`).
pub use opentelemetry_proto::tonic::trace::v1 as otlp_trace;

pub use otlp_trace::{ResourceSpans, ScopeSpans, Span, Status};
