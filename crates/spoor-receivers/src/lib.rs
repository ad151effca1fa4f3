//! Spoor's receivers.
//!
//! A receiver listens on a socket, decodes one wire protocol, translates what it decodes into the
//! OTLP model, hands batches to a [`TraceSink`](spoor_model::TraceSink) and answers the client.
//! Each is a config struct (serde, `deny_unknown_fields`, defaults) with
//! `build(&self, ReceiverContext) -> Result<RunningReceiver, ReceiverError>`; the table of all of
//! them is [`ReceiverConfig`].
//!
//! Protocols: OTLP (gRPC 4317, HTTP 4318; traces, and metrics and logs handed to a
//! [`SignalSink`]); Jaeger agent UDP (thrift compact 6831, thrift binary
//! 6832), Jaeger collector HTTP (thrift, 14268) and gRPC (api_v2, 14250); Zipkin (9411: v2 JSON
//! and protobuf, v1 JSON and thrift). The legacy protocols are translated to OTLP by the OTel
//! Collector's `jaeger` and `zipkinv2` rules (kind, status, scope and events from tags and logs;
//! 64-bit trace ids left-padded). UDP has no client to answer: drops are counted, not refused.
//!
//! Every receiver: counts received/accepted/refused/dropped spans, bytes and request errors by
//! reason through [`spoor_telemetry::ReceiverMetrics`]; caps request bodies (16 MiB after
//! decompression by default, zip bombs included); answers bad input with 400/413/415 or
//! INVALID_ARGUMENT and overload with 429/RESOURCE_EXHAUSTED; never stops listening because of
//! bad input; stops accepting and drains when the context's shutdown token fires.
//!
//! Limits, all applied in shared code: protobuf requests (and OTLP/JSON) are prescanned before
//! decoding (span count, decoded size: [`prescan_protobuf`]); every decoded batch takes one ingest
//! path that drops invalid spans and attributes over `spoor_model::attr_limits`; every TCP
//! listener caps its connections and times out silent connections, slow headers and slow bodies
//! ([`ConnectionLimits`]); while the context's [`MemoryLimiter`](spoor_telemetry::MemoryLimiter)
//! is over its limit, new requests are refused before they are read. CORS is off unless origins
//! are configured.
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

pub mod access;
pub mod auth;
pub mod body;
mod component;
mod ingest;
mod jaeger;
mod net;
mod otlp;
mod registry;
pub mod sampling;
pub mod status;
pub mod tenant;
mod thrift;
pub mod tls;
mod zipkin;

pub use component::{ReceiverContext, ReceiverError, RunningReceiver};
pub use jaeger::{
    JaegerGrpcConfig, JaegerThriftBinaryConfig, JaegerThriftCompactConfig, JaegerThriftHttpConfig,
};
pub use net::{ConnectionLimits, LimitedStream, ServerStream, WhenFull, incoming, serve_router};
pub use otlp::{
    DecodeBudget, OtlpGrpcConfig, OtlpHttpConfig, Prescan, PrescanError, SignalBatch, SignalSink,
    SignalSinks, metric_points, prescan_json, prescan_logs_json, prescan_logs_protobuf,
    prescan_metrics_json, prescan_metrics_protobuf, prescan_protobuf,
};
pub use registry::ReceiverConfig;
pub use zipkin::ZipkinConfig;

/// Jaeger decoding and translation, for benches, fuzzing and tests of other crates.
pub mod jaeger_codec {
    pub use crate::jaeger::proto::api_v2;
    pub use crate::jaeger::{
        JaegerBatch, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, ProtoError,
        RefType, TagValue, batch_from_proto, batch_to_otlp, decode_agent_message, decode_batch,
        encode_agent_message, encode_batch,
    };
    pub use crate::jaeger::{MAX_DATAGRAM_BYTES, count_spans};
    pub use crate::thrift::Protocol;
}

/// Zipkin decoding and translation, for benches, fuzzing and tests of other crates.
pub mod zipkin_codec {
    pub use crate::zipkin::proto::proto3;
    pub use crate::zipkin::thrift::V1ThriftSpan;
    pub use crate::zipkin::{
        ZipkinError, ZipkinSpan, decode_v1_json, decode_v1_thrift, decode_v2_json, decode_v2_proto,
        encode_v1_thrift, spans_to_otlp,
    };
}
