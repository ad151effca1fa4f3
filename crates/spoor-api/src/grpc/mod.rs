//! The query gRPC server: Jaeger api_v2 and api_v3 `QueryService`.

use spoor_query::QueryService;

/// The gRPC services served on `--query-grpc`.
pub fn query_grpc_routes(_query: QueryService) -> tonic::service::Routes {
    tonic::service::Routes::default()
}
