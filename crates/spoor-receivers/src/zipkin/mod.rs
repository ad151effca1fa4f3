//! Zipkin receiver: `POST /api/v1/spans` (JSON, thrift) and `POST /api/v2/spans` (JSON,
//! protobuf) on 9411, translated to OTLP by the OTel Collector's rules.

mod http;
pub mod json;
pub mod model;
pub mod proto;
pub mod thrift;

pub use http::ZipkinConfig;
pub use json::{ZipkinError, decode_v1_json, decode_v2_json};
pub use model::{ZipkinSpan, spans_to_otlp};
pub use proto::decode_v2_proto;
pub use thrift::{decode_v1_thrift, encode_v1_thrift};

#[cfg(test)]
mod receiver_tests;
#[cfg(test)]
mod tests;
