//! OTLP receivers: gRPC `TraceService/Export` and HTTP `POST /v1/traces` (protobuf and JSON),
//! and the same for metrics and logs (`signals`).

mod grpc;
mod http;
mod prescan;
mod signals;
mod signals_grpc;
mod signals_http;

pub use grpc::OtlpGrpcConfig;
pub(crate) use grpc::oversize_is_resource_exhausted;
pub use http::OtlpHttpConfig;
pub use prescan::{
    DecodeBudget, Prescan, PrescanError, prescan_json, prescan_logs_json, prescan_logs_protobuf,
    prescan_metrics_json, prescan_metrics_protobuf, prescan_protobuf,
};
pub(crate) use prescan::{prescan_jaeger_proto, prescan_zipkin_json, prescan_zipkin_proto};
pub use signals::{SignalBatch, SignalSink, SignalSinks, metric_points};
