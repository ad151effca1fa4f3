use std::sync::Arc;

use spoor_model::{ErrorKind, TraceId};
use spoor_storage::{
    DependencyLink, Operation, OperationQuery, SpanReader, StorageError, TimeRange, Trace,
    TraceQuery,
};

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
}

impl QueryService {
    pub fn new(reader: Arc<dyn SpanReader>) -> Self {
        Self { reader }
    }

    /// One trace; `NotFound` when the store has no span of it.
    pub async fn trace(&self, id: TraceId, window: Option<TimeRange>) -> Result<Trace, QueryError> {
        self.reader
            .get_trace(id, window)
            .await?
            .filter(|t| !t.resource_spans.is_empty())
            .ok_or(QueryError::TraceNotFound(id))
    }

    /// Several traces by id, skipping unknown ones, in the order asked.
    pub async fn traces(&self, ids: &[TraceId]) -> Result<Vec<Trace>, QueryError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.reader.get_trace(*id, None).await?
                && !t.resource_spans.is_empty()
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, QueryError> {
        Ok(self.reader.find_traces(query).await?)
    }

    pub async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, QueryError> {
        Ok(self.reader.find_trace_ids(query).await?)
    }

    pub async fn services(&self) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.get_services().await?)
    }

    pub async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, QueryError> {
        Ok(self.reader.get_operations(query).await?)
    }

    /// Dependencies in `[end - lookback, end]`, both in unix nanoseconds.
    pub async fn dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, QueryError> {
        Ok(self
            .reader
            .get_dependencies(end_unix_nano, lookback_nanos)
            .await?)
    }
}
