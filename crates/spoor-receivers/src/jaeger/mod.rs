//! Jaeger receivers: agent UDP (thrift compact 6831, thrift binary 6832), collector HTTP
//! (`POST /api/traces`, thrift binary, 14268) and collector gRPC (`api_v2.CollectorService`,
//! 14250). All decode into one Jaeger model ([`model`]) translated to OTLP by the OTel
//! Collector's rules.

pub(crate) mod codec;
mod grpc;
mod http;
pub mod model;
pub mod proto;
pub mod thrift;
mod udp;

pub use grpc::JaegerGrpcConfig;
pub use http::JaegerThriftHttpConfig;
pub use udp::{
    JaegerThriftBinaryConfig, JaegerThriftCompactConfig, MAX_DATAGRAM_BYTES, count_spans,
};

pub use model::{
    JaegerBatch, JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, RefType, TagValue,
    batch_to_otlp,
};
pub use proto::{ProtoError, batch_from_proto};
pub use thrift::{decode_agent_message, decode_batch, encode_agent_message, encode_batch};

#[cfg(test)]
pub(crate) mod receiver_tests;
#[cfg(test)]
pub(crate) mod tests;
