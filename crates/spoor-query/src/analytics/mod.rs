//! Analytics over stored traces: regression analysis between two windows or two
//! `service.version`s ([`QueryService::compare`]) and a trace's critical path
//! ([`QueryService::critical_path`]).

mod compare;
mod critical_path;
#[cfg(test)]
mod tests;

use crate::TraceQuery;
use spoor_model::TraceId;
use spoor_storage::TimeRange;

pub use compare::{OperationChange, OperationStats, SpanFilter, compare, percentile};
pub use critical_path::{CriticalSection, critical_path};

use crate::{MAX_SEARCH_LIMIT, QueryError, QueryService};

/// The spans compared: one window, and optionally one `service.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareSide {
    pub window: TimeRange,
    pub version: Option<String>,
}

/// What a comparison read and found.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub operations: Vec<OperationChange>,
    /// Traces read per side; at [`MAX_SEARCH_LIMIT`] the newest traces were sampled.
    pub baseline_traces: usize,
    pub current_traces: usize,
}

impl QueryService {
    /// Per operation of `service` (every service when `None`), the baseline side against the
    /// current side, the most regressed first. Each side reads the newest
    /// [`MAX_SEARCH_LIMIT`] traces with a span of the service in its window.
    pub async fn compare(
        &self,
        service: Option<&str>,
        baseline: &CompareSide,
        current: &CompareSide,
    ) -> Result<Comparison, QueryError> {
        let read = |side: &CompareSide| TraceQuery {
            service: service.map(str::to_string),
            start_min: Some(side.window.start),
            start_max: Some(side.window.end),
            attributes: side
                .version
                .iter()
                .map(|v| ("service.version".to_string(), v.clone()))
                .collect(),
            limit: MAX_SEARCH_LIMIT,
            ..TraceQuery::default()
        };
        let base_traces = self.find_traces(&read(baseline)).await?;
        let cur_traces = self.find_traces(&read(current)).await?;
        let filter = |side: &CompareSide| SpanFilter {
            service: service.map(str::to_string),
            version: side.version.clone(),
            start: side.window.start,
            end: side.window.end,
        };
        Ok(Comparison {
            operations: compare(
                &base_traces,
                &filter(baseline),
                &cur_traces,
                &filter(current),
            ),
            baseline_traces: base_traces.len(),
            current_traces: cur_traces.len(),
        })
    }

    /// The critical path of trace `id` (see [`critical_path`]).
    pub async fn critical_path(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Vec<CriticalSection>, QueryError> {
        let trace = self.trace(id, window).await?;
        Ok(critical_path(&trace))
    }
}
