use std::sync::Arc;

use spoor_model::{ErrorKind, TraceId};
use spoor_storage::{
    DependencyLink, Operation, OperationQuery, ScanRequest, SpanReader, StorageError, TimeRange,
    Trace,
};

use crate::ddg::{DdgPath, Focal, deep_dependency_paths};
use crate::dedup::merge_duplicate_spans;
use crate::dependencies::{DependencyStore, merge_links};
use crate::plan::{Query, TraceContext, TraceQuery, evaluate};
use crate::summary::TraceSummary;

/// Most traces one search returns, whatever limit is asked (Jaeger's UI asks for at most 1,500).
pub const MAX_SEARCH_LIMIT: usize = 10_000;
/// Traces through the focal service read for one Deep Dependency Graph.
pub const DDG_TRACE_LIMIT: usize = 1_000;

/// A failed query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("trace {0} not found")]
    TraceNotFound(TraceId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl QueryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::TraceNotFound(_) => ErrorKind::NotFound,
            QueryError::Storage(e) => e.kind(),
        }
    }
}

/// Answers queries from a storage reader. Cheap to clone; safe to share across tasks.
#[derive(Clone)]
pub struct QueryService {
    reader: Arc<dyn SpanReader>,
    graph: Option<Arc<DependencyStore>>,
}

impl QueryService {
    pub fn new(reader: Arc<dyn SpanReader>) -> Self {
        Self {
            reader,
            graph: None,
        }
    }

    /// Answers dependencies from the service graph's edges too (merged with storage's links).
    pub fn with_dependency_store(mut self, graph: Arc<DependencyStore>) -> Self {
        self.graph = Some(graph);
        self
    }

    /// One trace, duplicate spans merged; `NotFound` when the store has no span of it.
    pub async fn trace(&self, id: TraceId, window: Option<TimeRange>) -> Result<Trace, QueryError> {
        self.reader
            .get_trace(id, window)
            .await?
            .filter(|t| !t.resource_spans.is_empty())
            .map(dedup)
            .ok_or(QueryError::TraceNotFound(id))
    }

    /// Several traces by id (at most [`MAX_SEARCH_LIMIT`]), skipping unknown ones, in the order
    /// asked, duplicate spans merged.
    pub async fn traces(&self, ids: &[TraceId]) -> Result<Vec<Trace>, QueryError> {
        let mut out = Vec::with_capacity(ids.len().min(MAX_SEARCH_LIMIT));
        for id in ids.iter().take(MAX_SEARCH_LIMIT) {
            if let Some(t) = self.reader.get_trace(*id, None).await?
                && !t.resource_spans.is_empty()
            {
                out.push(dedup(t));
            }
        }
        Ok(out)
    }

    /// Traces matching `query`, newest first, at most `query.limit` capped at
    /// [`MAX_SEARCH_LIMIT`], duplicate spans merged.
    ///
    /// The form is pushed down whole ([`TraceQuery::scan_request`]) and its plan
    /// ([`Query::from_trace_query`]) is evaluated over what storage returns.
    pub async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, QueryError> {
        let plan = Query::from_trace_query(query);
        let mut traces = self.reader.scan(&capped(query)).await?;
        traces.retain(|t| !evaluate(&plan, &TraceContext::new(t)).is_empty());
        Ok(traces.into_iter().map(dedup).collect())
    }

    /// The ids of what [`QueryService::find_traces`] returns, in the same order: the form's
    /// scan is exact (every condition is pushed down), so the ids come from storage alone.
    pub async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, QueryError> {
        Ok(self.reader.scan_ids(&capped(query)).await?)
    }

    /// Candidate traces for a plan: storage's answer to `request` (at most
    /// [`MAX_SEARCH_LIMIT`]), duplicate spans merged.
    pub(crate) async fn scan(&self, request: &ScanRequest) -> Result<Vec<Trace>, QueryError> {
        let mut request = request.clone();
        request.limit = request.effective_limit().min(MAX_SEARCH_LIMIT);
        let traces = self.reader.scan(&request).await?;
        Ok(traces.into_iter().map(dedup).collect())
    }

    /// The summaries of what [`QueryService::find_traces`] returns, in the same order.
    pub async fn find_trace_summaries(
        &self,
        query: &TraceQuery,
    ) -> Result<Vec<TraceSummary>, QueryError> {
        let traces = self.find_traces(query).await?;
        Ok(traces.iter().map(TraceSummary::of).collect())
    }

    /// The Deep Dependency Graph's paths through `focal`, from the newest
    /// [`DDG_TRACE_LIMIT`] traces through it that started in `window`.
    pub async fn deep_dependencies(
        &self,
        focal: &Focal,
        window: TimeRange,
    ) -> Result<Vec<DdgPath>, QueryError> {
        let traces = self
            .find_traces(&TraceQuery {
                service: Some(focal.service.clone()),
                operation: focal.operation.clone(),
                start_min: Some(window.start),
                start_max: Some(window.end),
                limit: DDG_TRACE_LIMIT,
                ..TraceQuery::default()
            })
            .await?;
        Ok(deep_dependency_paths(&traces, focal))
    }

    pub async fn services(&self) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.get_services().await?)
    }

    pub async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, QueryError> {
        Ok(self.reader.get_operations(query).await?)
    }

    /// Dependencies in `[end - lookback, end]`, both in unix nanoseconds: storage's links
    /// (parent/child pairs within a block) merged with the service graph's edges, if any
    /// (pairs across blocks and virtual nodes such as databases), per pair the larger count.
    pub async fn dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, QueryError> {
        let stored = self
            .reader
            .get_dependencies(end_unix_nano, lookback_nanos)
            .await?;
        Ok(match &self.graph {
            Some(g) => merge_links(
                stored,
                g.links(end_unix_nano.saturating_sub(lookback_nanos), end_unix_nano),
            ),
            None => stored,
        })
    }
}

fn capped(query: &TraceQuery) -> ScanRequest {
    let mut request = query.scan_request();
    request.limit = query.effective_limit().min(MAX_SEARCH_LIMIT);
    request
}

fn dedup(mut trace: Trace) -> Trace {
    merge_duplicate_spans(&mut trace.resource_spans);
    crate::zipkin::uniquify_shared_ids(&mut trace.resource_spans);
    trace
}
