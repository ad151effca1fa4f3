//! OTLP receivers: gRPC `TraceService/Export` and HTTP `POST /v1/traces` (protobuf and JSON).

mod grpc;
mod http;
mod prescan;

pub use grpc::OtlpGrpcConfig;
pub(crate) use grpc::oversize_is_resource_exhausted;
pub use http::OtlpHttpConfig;
pub use prescan::{DecodeBudget, PrescanError, prescan_json, prescan_protobuf};
pub(crate) use prescan::{prescan_jaeger_proto, prescan_zipkin_json, prescan_zipkin_proto};
