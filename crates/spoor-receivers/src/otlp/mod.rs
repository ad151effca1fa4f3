//! OTLP receivers: gRPC `TraceService/Export` and HTTP `POST /v1/traces` (protobuf and JSON).

mod grpc;
mod http;
mod validate;

pub use grpc::OtlpGrpcConfig;
pub use http::OtlpHttpConfig;
pub use validate::{Rejected, drop_invalid_spans};
