//! The query gRPC server (`--query-grpc`, 16685): Jaeger's `jaeger.api_v2.QueryService` (spans in
//! the api_v2 model, each with its process inline, streamed in chunks of ten spans) and
//! `jaeger.api_v3.QueryService` (OTLP `TracesData`, one chunk per trace, split only when a trace
//! encodes to more than 1 MiB), both answered by [`QueryService`] with the defaults, limits and
//! error kinds of the HTTP API. `ArchiveTrace` answers `UNIMPLEMENTED`: Spoor has no archive store.
//!
//! Errors become gRPC statuses through [`ErrorKind::grpc_code`](spoor_model::ErrorKind): a
//! malformed request is `INVALID_ARGUMENT`, an unknown trace `NOT_FOUND`, storage failures
//! whatever their kind says. Requests may be gzip- or zstd-compressed; responses are compressed
//! when the client accepts it.

mod request;
mod summary;
#[cfg(test)]
mod tests;
mod v2;
mod v2_model;
mod v3;

use spoor_query::{QueryError, QueryService};
use tonic::codec::CompressionEncoding;

use crate::error::ApiError;

/// Code generated from `proto/` by `build.rs`.
#[allow(clippy::all, clippy::pedantic, dead_code)]
pub(crate) mod proto {
    pub mod api_v2 {
        tonic::include_proto!("jaeger.api_v2");
    }
    pub mod api_v3 {
        tonic::include_proto!("jaeger.api_v3");
    }
}

use proto::api_v2::query_service_server::QueryServiceServer as V2Server;
use proto::api_v3::query_service_server::QueryServiceServer as V3Server;

/// The gRPC services served on `--query-grpc`: Jaeger api_v2 and api_v3 `QueryService`.
pub fn query_grpc_routes(query: QueryService) -> tonic::service::Routes {
    let v2 = V2Server::new(v2::V2Query::new(query.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);
    let v3 = V3Server::new(v3::V3Query::new(query))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd);
    tonic::service::Routes::new(v2).add_service(v3)
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let code = tonic::Code::from_i32(e.kind.grpc_code());
        if matches!(
            code,
            tonic::Code::Internal | tonic::Code::Unavailable | tonic::Code::DataLoss
        ) {
            tracing::warn!(error = %e.message, "grpc query failed");
        }
        tonic::Status::new(code, e.message)
    }
}

/// A failed query as a gRPC status.
fn query_status(e: QueryError) -> tonic::Status {
    ApiError::from(e).into()
}
