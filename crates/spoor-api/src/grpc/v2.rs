//! `jaeger.api_v2.QueryService`.

use std::pin::Pin;

use spoor_query::QueryService;
use spoor_storage::Trace;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::proto::api_v2 as pb;
use super::proto::api_v2::query_service_server::QueryService as V2;
use super::query_status;
use super::request::{
    Search, dependency_window, operation_query, trace_id_from_bytes, trace_window,
};
use super::v2_model::spans;
use crate::error::ApiError;

/// Spans per `SpansResponseChunk`, as Jaeger's query service.
pub const SPANS_PER_CHUNK: usize = 10;

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::SpansResponseChunk, Status>> + Send>>;

/// The api_v2 query service over a [`QueryService`].
pub struct V2Query {
    query: QueryService,
}

impl V2Query {
    pub fn new(query: QueryService) -> Self {
        Self { query }
    }
}

/// Each trace's spans in chunks of [`SPANS_PER_CHUNK`]; a trace never shares a chunk. Traces are
/// converted as the stream is read.
fn chunk_stream(traces: Vec<Trace>) -> ChunkStream {
    Box::pin(tokio_stream::iter(traces.into_iter().flat_map(|trace| {
        let mut spans = spans(&trace);
        let mut chunks = Vec::with_capacity(spans.len().div_ceil(SPANS_PER_CHUNK));
        while !spans.is_empty() {
            let rest = spans.split_off(spans.len().min(SPANS_PER_CHUNK));
            chunks.push(Ok(pb::SpansResponseChunk { spans }));
            spans = rest;
        }
        chunks
    })))
}

#[tonic::async_trait]
impl V2 for V2Query {
    type GetTraceStream = ChunkStream;
    type FindTracesStream = ChunkStream;

    async fn get_trace(
        &self,
        request: Request<pb::GetTraceRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let req = request.into_inner();
        let id = trace_id_from_bytes(&req.trace_id)?;
        let window = trace_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        let trace = self.query.trace(id, window).await.map_err(query_status)?;
        Ok(Response::new(chunk_stream(vec![trace])))
    }

    /// Spoor has no archive storage: after the trace id is checked, `UNIMPLEMENTED`, as Jaeger
    /// answers when no archive storage is configured.
    async fn archive_trace(
        &self,
        request: Request<pb::ArchiveTraceRequest>,
    ) -> Result<Response<pb::ArchiveTraceResponse>, Status> {
        let req = request.into_inner();
        trace_id_from_bytes(&req.trace_id)?;
        Err(Status::unimplemented(
            "archive storage is not supported by spoor",
        ))
    }

    async fn find_traces(
        &self,
        request: Request<pb::FindTracesRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let query = request
            .into_inner()
            .query
            .ok_or_else(|| ApiError::bad_request("query is required"))?;
        let search = Search {
            service_name: &query.service_name,
            operation_name: &query.operation_name,
            attributes: query.tags.into_iter().collect(),
            start_time_min: query.start_time_min.as_ref(),
            start_time_max: query.start_time_max.as_ref(),
            duration_min: query.duration_min.as_ref(),
            duration_max: query.duration_max.as_ref(),
            search_depth: query.search_depth,
        }
        .trace_query()?;
        let traces = self
            .query
            .find_traces(&search)
            .await
            .map_err(query_status)?;
        Ok(Response::new(chunk_stream(traces)))
    }

    async fn get_services(
        &self,
        _request: Request<pb::GetServicesRequest>,
    ) -> Result<Response<pb::GetServicesResponse>, Status> {
        let services = self.query.services().await.map_err(query_status)?;
        Ok(Response::new(pb::GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<pb::GetOperationsRequest>,
    ) -> Result<Response<pb::GetOperationsResponse>, Status> {
        let req = request.into_inner();
        let ops = self
            .query
            .operations(&operation_query(req.service, req.span_kind)?)
            .await
            .map_err(query_status)?;
        let mut operation_names: Vec<String> = ops.iter().map(|op| op.name.clone()).collect();
        operation_names.dedup();
        Ok(Response::new(pb::GetOperationsResponse {
            operation_names,
            operations: ops
                .into_iter()
                .map(|op| pb::Operation {
                    name: op.name,
                    span_kind: op.span_kind,
                })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<pb::GetDependenciesRequest>,
    ) -> Result<Response<pb::GetDependenciesResponse>, Status> {
        let req = request.into_inner();
        let (end, lookback) = dependency_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        let links = self
            .query
            .dependencies(end, lookback)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::GetDependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| pb::DependencyLink {
                    parent: l.parent,
                    child: l.child,
                    call_count: l.call_count,
                    source: String::new(),
                })
                .collect(),
        }))
    }
}
