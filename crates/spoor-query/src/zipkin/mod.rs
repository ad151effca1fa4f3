//! Zipkin: the OTLP → Zipkin v2 translation (shared by the `zipkin` exporter and the Zipkin
//! read API), Zipkin's search semantics, and the read-time fix for shared span ids.
//!
//! The read API answers in Zipkin's model, so names are lower-cased as Zipkin stores them and
//! a search parameter matches a stored name case-insensitively.

mod query;
mod shared;
mod translate;

use std::collections::BTreeSet;

use crate::TraceQuery;
use spoor_storage::{OperationQuery, Trace};

pub use query::{AnnotationQuery, ZipkinQuery, ZipkinQueryError, trace_timestamp};
pub(crate) use shared::uniquify_shared_ids;
pub use translate::{Endpoint, ZipkinSpan, span_json, to_json, translate};

use crate::{MAX_SEARCH_LIMIT, QueryError, QueryService};

/// Traces read to list remote services and autocomplete values (the newest ones).
pub const SAMPLE_TRACES: usize = 1_000;
/// Most values `autocompleteValues` returns.
pub const MAX_VALUES: usize = 1_000;
/// The OTLP attribute the receiver records when a Zipkin span had no timestamp.
const ABSENT_START: &str = "otel.zipkin.absentField.startTime";

/// A stored trace in the Zipkin model, spans ordered by timestamp.
pub fn from_trace(trace: &Trace) -> Vec<ZipkinSpan> {
    let (mut spans, _) = translate(&trace.resource_spans, "");
    for span in &mut spans {
        if span.tags.remove(ABSENT_START).is_some() {
            span.timestamp = 0;
        }
    }
    spans.sort_by_key(|s| (s.timestamp, s.parent_id.is_some()));
    spans
}

impl QueryService {
    /// Zipkin's `/api/v2/services`: service names, lower-cased and sorted.
    pub async fn zipkin_services(&self) -> Result<Vec<String>, QueryError> {
        let names: BTreeSet<String> = self
            .services()
            .await?
            .iter()
            .map(|s| s.to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(names.into_iter().collect())
    }

    /// The stored spellings of a service name Zipkin asks for lower-cased.
    async fn stored_services(&self, service: &str) -> Result<Vec<String>, QueryError> {
        let wanted = service.to_lowercase();
        Ok(self
            .services()
            .await?
            .into_iter()
            .filter(|s| s.to_lowercase() == wanted)
            .collect())
    }

    /// Zipkin's `/api/v2/spans?serviceName=`: the service's span names, lower-cased and sorted.
    pub async fn zipkin_span_names(&self, service: &str) -> Result<Vec<String>, QueryError> {
        let mut names = BTreeSet::new();
        for stored in self.stored_services(service).await? {
            let ops = self
                .operations(&OperationQuery {
                    service: stored,
                    span_kind: None,
                })
                .await?;
            names.extend(ops.into_iter().map(|o| o.name.to_lowercase()));
        }
        Ok(names.into_iter().collect())
    }

    /// The newest traces of the Zipkin search's candidates: pushed down are the service (when
    /// one stored spelling matches), the span name (when the service's operations spell it one
    /// way) and the window; the rest is Zipkin's semantics, applied by
    /// [`ZipkinQuery::matches`].
    async fn zipkin_candidates(
        &self,
        q: &ZipkinQuery,
        limit: usize,
    ) -> Result<Vec<Vec<ZipkinSpan>>, QueryError> {
        let mut search = TraceQuery {
            start_min: Some(
                q.end_ts
                    .saturating_sub(q.lookback)
                    .saturating_mul(1_000_000),
            ),
            start_max: Some(q.end_ts.saturating_mul(1_000_000)),
            limit,
            ..TraceQuery::default()
        };
        if let Some(service) = &q.service {
            let stored = self.stored_services(service).await?;
            match stored.as_slice() {
                [] => return Ok(Vec::new()),
                [one] => {
                    search.service = Some(one.clone());
                    if let Some(name) = &q.span_name {
                        let wanted = name.to_lowercase();
                        let ops = self
                            .operations(&OperationQuery {
                                service: one.clone(),
                                span_kind: None,
                            })
                            .await?;
                        let spellings: BTreeSet<String> = ops
                            .into_iter()
                            .map(|o| o.name)
                            .filter(|n| n.to_lowercase() == wanted)
                            .collect();
                        match spellings.len() {
                            0 => return Ok(Vec::new()),
                            1 => search.operation = spellings.into_iter().next(),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let traces = self.find_traces(&search).await?;
        Ok(traces.iter().map(from_trace).collect())
    }

    /// Zipkin's `/api/v2/traces`: matching traces, newest first, at most `q.limit`. Up to
    /// [`SAMPLE_TRACES`] (or `limit` when larger) candidates are read; a condition that is not
    /// pushed down is checked on those.
    pub async fn zipkin_traces(&self, q: &ZipkinQuery) -> Result<Vec<Vec<ZipkinSpan>>, QueryError> {
        let limit = q.limit.clamp(1, MAX_SEARCH_LIMIT);
        let pushed_down_only = q.remote_service.is_none()
            && q.annotations.0.is_empty()
            && q.min_duration.is_none()
            && q.max_duration.is_none();
        let read = if pushed_down_only {
            limit
        } else {
            limit.max(SAMPLE_TRACES)
        };
        let mut traces: Vec<Vec<ZipkinSpan>> = self
            .zipkin_candidates(q, read)
            .await?
            .into_iter()
            .filter(|t| q.matches(t))
            .collect();
        traces.sort_by_key(|t| std::cmp::Reverse(trace_timestamp(t)));
        traces.truncate(limit);
        Ok(traces)
    }

    /// The spans of `service` (all when `None`) in the newest [`SAMPLE_TRACES`] traces of the
    /// window.
    async fn zipkin_sample(
        &self,
        service: Option<&str>,
        end_ts: u64,
        lookback: u64,
    ) -> Result<Vec<ZipkinSpan>, QueryError> {
        let q = ZipkinQuery {
            service: service.map(str::to_string),
            end_ts,
            lookback,
            limit: SAMPLE_TRACES,
            ..ZipkinQuery::default()
        };
        let wanted = service.map(str::to_lowercase);
        Ok(self
            .zipkin_candidates(&q, SAMPLE_TRACES)
            .await?
            .into_iter()
            .flatten()
            .filter(|s| {
                wanted.as_ref().is_none_or(|w| {
                    s.local
                        .as_ref()
                        .is_some_and(|e| e.service_name.to_lowercase() == *w)
                })
            })
            .collect())
    }

    /// Zipkin's `/api/v2/remoteServices?serviceName=`: the remote service names of the
    /// service's spans in the newest [`SAMPLE_TRACES`] traces of the window, lower-cased.
    pub async fn zipkin_remote_services(
        &self,
        service: &str,
        end_ts: u64,
        lookback: u64,
    ) -> Result<Vec<String>, QueryError> {
        let names: BTreeSet<String> = self
            .zipkin_sample(Some(service), end_ts, lookback)
            .await?
            .into_iter()
            .filter_map(|s| s.remote.map(|e| e.service_name.to_lowercase()))
            .filter(|s| !s.is_empty())
            .collect();
        Ok(names.into_iter().collect())
    }

    /// Zipkin's `/api/v2/autocompleteKeys`: the tag keys of the newest [`SAMPLE_TRACES`]
    /// traces of the window (Zipkin lists configured keys; Spoor indexes every tag).
    pub async fn zipkin_tag_keys(
        &self,
        end_ts: u64,
        lookback: u64,
    ) -> Result<Vec<String>, QueryError> {
        let keys: BTreeSet<String> = self
            .zipkin_sample(None, end_ts, lookback)
            .await?
            .into_iter()
            .flat_map(|s| s.tags.into_keys())
            .collect();
        Ok(keys.into_iter().collect())
    }

    /// Zipkin's `/api/v2/autocompleteValues?key=`: the values of tag `key` in the newest
    /// [`SAMPLE_TRACES`] traces of the window, sorted, at most [`MAX_VALUES`].
    pub async fn zipkin_tag_values(
        &self,
        key: &str,
        end_ts: u64,
        lookback: u64,
    ) -> Result<Vec<String>, QueryError> {
        let values: BTreeSet<String> = self
            .zipkin_sample(None, end_ts, lookback)
            .await?
            .into_iter()
            .filter_map(|mut s| s.tags.remove(key))
            .collect();
        Ok(values.into_iter().take(MAX_VALUES).collect())
    }
}
