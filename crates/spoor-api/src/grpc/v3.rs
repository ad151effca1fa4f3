//! `jaeger.api_v3.QueryService`: traces as OTLP `TracesData`.

use std::pin::Pin;

use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use spoor_model::{ResourceSpans, SpanRecord};
use spoor_query::QueryService;
use spoor_query::TraceQuery;
use spoor_storage::Trace;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::proto::api_v3 as pb;
use super::proto::api_v3::query_service_server::QueryService as V3;
use super::query_status;
use super::request::{Search, dependency_window, operation_query, trace_id_from_hex, trace_window};
use super::summary::to_proto;
use crate::error::ApiError;

/// A trace larger than this (encoded) is split over several `TracesData` chunks, so that clients
/// with gRPC's usual 4 MiB receive limit can read it.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Summaries per `FindTraceSummariesResponse`.
pub const SUMMARIES_PER_CHUNK: usize = 100;

type TracesStream = Pin<Box<dyn Stream<Item = Result<TracesData, Status>> + Send>>;
type SummaryStream =
    Pin<Box<dyn Stream<Item = Result<pb::FindTraceSummariesResponse, Status>> + Send>>;

/// The api_v3 query service over a [`QueryService`].
pub struct V3Query {
    query: QueryService,
}

impl V3Query {
    pub fn new(query: QueryService) -> Self {
        Self { query }
    }
}

/// One trace's spans as `TracesData` chunks: the whole trace when it encodes to at most
/// [`MAX_CHUNK_BYTES`], else groups of spans of about that size (each chunk repeating the
/// resource and scope of its spans).
pub fn trace_chunks(resource_spans: Vec<ResourceSpans>) -> Vec<TracesData> {
    let size: usize = resource_spans.iter().map(Message::encoded_len).sum();
    if size <= MAX_CHUNK_BYTES {
        return vec![TracesData { resource_spans }];
    }
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut current_size = 0;
    for record in SpanRecord::flatten(resource_spans) {
        let n = record.span.encoded_len();
        if !current.is_empty() && current_size + n > MAX_CHUNK_BYTES {
            chunks.push(TracesData {
                resource_spans: SpanRecord::group(std::mem::take(&mut current)),
            });
            current_size = 0;
        }
        current_size += n;
        current.push(record);
    }
    if !current.is_empty() {
        chunks.push(TracesData {
            resource_spans: SpanRecord::group(current),
        });
    }
    chunks
}

/// Traces one after another, each in its own chunk(s), converted as the stream is read.
fn traces_stream(traces: Vec<Trace>) -> TracesStream {
    Box::pin(tokio_stream::iter(
        traces
            .into_iter()
            .flat_map(|t| trace_chunks(t.resource_spans))
            .map(Ok),
    ))
}

fn search(query: Option<pb::TraceQueryParameters>) -> Result<TraceQuery, ApiError> {
    let query = query.ok_or_else(|| ApiError::bad_request("query is required"))?;
    if !query.filter.is_empty() {
        return Err(ApiError::bad_request(
            "query.filter (structured filters) is not supported",
        ));
    }
    Search {
        service_name: &query.service_name,
        operation_name: &query.operation_name,
        attributes: query.attributes.into_iter().collect(),
        start_time_min: query.start_time_min.as_ref(),
        start_time_max: query.start_time_max.as_ref(),
        duration_min: query.duration_min.as_ref(),
        duration_max: query.duration_max.as_ref(),
        search_depth: query.search_depth,
    }
    .trace_query()
}

#[tonic::async_trait]
impl V3 for V3Query {
    type GetTraceStream = TracesStream;
    type FindTracesStream = TracesStream;
    type FindTraceSummariesStream = SummaryStream;

    async fn get_trace(
        &self,
        request: Request<pb::GetTraceRequest>,
    ) -> Result<Response<TracesStream>, Status> {
        let req = request.into_inner();
        let id = trace_id_from_hex(&req.trace_id)?;
        let window = trace_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        let trace = self.query.trace(id, window).await.map_err(query_status)?;
        Ok(Response::new(traces_stream(vec![trace])))
    }

    async fn find_traces(
        &self,
        request: Request<pb::FindTracesRequest>,
    ) -> Result<Response<TracesStream>, Status> {
        let query = search(request.into_inner().query)?;
        let traces = self.query.find_traces(&query).await.map_err(query_status)?;
        Ok(Response::new(traces_stream(traces)))
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
        Ok(Response::new(pb::GetOperationsResponse {
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
    ) -> Result<Response<pb::DependenciesResponse>, Status> {
        let req = request.into_inner();
        let (end, lookback) = dependency_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        let links = self
            .query
            .dependencies(end, lookback)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::DependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| pb::Dependency {
                    parent: l.parent,
                    child: l.child,
                    call_count: l.call_count,
                })
                .collect(),
        }))
    }

    async fn find_trace_summaries(
        &self,
        request: Request<pb::FindTraceSummariesRequest>,
    ) -> Result<Response<SummaryStream>, Status> {
        let query = search(request.into_inner().query)?;
        let summaries: Vec<pb::TraceSummary> = self
            .query
            .find_trace_summaries(&query)
            .await
            .map_err(query_status)?
            .iter()
            .map(to_proto)
            .collect();
        let chunks: Vec<Result<pb::FindTraceSummariesResponse, Status>> = summaries
            .chunks(SUMMARIES_PER_CHUNK)
            .map(|c| {
                Ok(pb::FindTraceSummariesResponse {
                    summaries: c.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}
