//! Search by a query [`plan`](crate::plan): storage prunes by the plan's pushdown, the query layer
//! evaluates the plan over each candidate trace and reports the spansets it matched.

use spoor_model::SpanId;
use spoor_storage::ScanRequest;

use crate::plan::{Query, TraceContext, Value, evaluate, field_values};
use crate::service::{MAX_SEARCH_LIMIT, QueryError, QueryService};
use crate::sql::TraceOrder;
use crate::summary::TraceSummary;

/// A plan search. Times are unix nanoseconds, durations nanoseconds.
#[derive(Debug, Clone)]
pub struct PlanSearch {
    pub query: Query,
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// Bounds on the trace's duration (Tempo's `minDuration`/`maxDuration`).
    pub min_trace_duration: Option<u64>,
    pub max_trace_duration: Option<u64>,
    /// Traces returned; 0 means 20; at most [`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// Spans reported per spanset (Tempo's `spss`); the count of all matched is kept.
    pub spans_per_spanset: usize,
    /// The order of the answer; any order but newest first reads every candidate.
    pub order: TraceOrder,
}

/// A matched trace: its summary and the spansets that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceMatch {
    pub summary: TraceSummary,
    pub spansets: Vec<MatchedSpanset>,
}

/// Spans matched together.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpanset {
    /// At most `spans_per_spanset`, in start order.
    pub spans: Vec<MatchedSpan>,
    /// All spans of the spanset.
    pub matched: usize,
    /// The `by()` values of the spanset.
    pub by: Vec<(String, Value)>,
}

/// One matched span with the fields a result shows.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpan {
    pub span_id: SpanId,
    pub name: String,
    pub service: String,
    pub start_time_unix_nano: u64,
    pub duration_nanos: u64,
    /// Values of the attributes the conditions read and of the fields `select()` asked for.
    pub attributes: Vec<(String, Value)>,
}

/// Candidate traces read for one plan search: storage prunes by the pushdown only, so a query
/// that pushes nothing down is evaluated over the newest this many traces of the window.
pub const PLAN_CANDIDATE_LIMIT: usize = MAX_SEARCH_LIMIT;

impl QueryService {
    /// Traces matching `search.query`, newest first, at most `search.limit`.
    pub async fn search_plan(&self, search: &PlanSearch) -> Result<Vec<TraceMatch>, QueryError> {
        let plan = search.query.scan_plan();
        let limit = match search.limit {
            0 => ScanRequest::DEFAULT_LIMIT,
            n => n.min(MAX_SEARCH_LIMIT),
        };
        // A plan the scan expresses whole reads its limit, as the Jaeger form does; otherwise
        // candidates come newest first: read a few more than asked. Either way, read again
        // with four times as many while too few matched, up to the cap.
        let complete = plan.complete
            && search.min_trace_duration.is_none()
            && search.max_trace_duration.is_none();
        let mut ask = match search.order {
            TraceOrder::Newest if complete => limit,
            TraceOrder::Newest => (limit * 2).clamp(64, PLAN_CANDIDATE_LIMIT),
            _ => PLAN_CANDIDATE_LIMIT,
        };
        let request = within(plan.request, search.start, search.end);
        loop {
            let candidates = self
                .scan(&ScanRequest {
                    limit: ask,
                    ..request.clone()
                })
                .await?;
            let found = self.evaluate_candidates(search, &candidates, limit);
            if found.len() >= limit || candidates.len() < ask || ask >= PLAN_CANDIDATE_LIMIT {
                return Ok(found);
            }
            ask = (ask * 4).min(PLAN_CANDIDATE_LIMIT);
        }
    }

    fn evaluate_candidates(
        &self,
        search: &PlanSearch,
        candidates: &[spoor_storage::Trace],
        limit: usize,
    ) -> Vec<TraceMatch> {
        let shown = search.query.condition_attributes();
        let mut out = Vec::new();
        for trace in candidates {
            if out.len() >= limit && search.order == TraceOrder::Newest {
                break;
            }
            let ctx = TraceContext::new(trace);
            if search.min_trace_duration.is_some_and(|d| ctx.duration < d)
                || search.max_trace_duration.is_some_and(|d| ctx.duration > d)
            {
                continue;
            }
            let sets = evaluate(&search.query, &ctx);
            if sets.is_empty() {
                continue;
            }
            let spansets = sets
                .into_iter()
                .map(|set| {
                    let mut fields = shown.clone();
                    fields.extend(set.select.iter().filter(|f| !shown.contains(f)).cloned());
                    let mut spans: Vec<usize> = set.spans.clone();
                    spans.sort_by_key(|&i| ctx.spans[i].span.start_time_unix_nano);
                    MatchedSpanset {
                        matched: spans.len(),
                        spans: spans
                            .into_iter()
                            .take(search.spans_per_spanset.max(1))
                            .map(|i| matched_span(&ctx, i, &fields))
                            .collect(),
                        by: set.by,
                    }
                })
                .collect();
            out.push(TraceMatch {
                summary: TraceSummary::of(trace),
                spansets,
            });
        }
        let duration = |t: &TraceMatch| {
            t.summary
                .max_end_time_unix_nano
                .saturating_sub(t.summary.min_start_time_unix_nano)
        };
        match search.order {
            TraceOrder::Newest => {}
            TraceOrder::Oldest => out.sort_by_key(|t| t.summary.min_start_time_unix_nano),
            TraceOrder::LongestFirst => out.sort_by_key(|t| std::cmp::Reverse(duration(t))),
            TraceOrder::ShortestFirst => out.sort_by_key(duration),
        }
        out.truncate(limit);
        out
    }
}

/// `request` with its start bounds narrowed to `[start, end]`.
pub(crate) fn within(
    mut request: ScanRequest,
    start: Option<u64>,
    end: Option<u64>,
) -> ScanRequest {
    if let Some(s) = start {
        request.start_min = Some(request.start_min.map_or(s, |m| m.max(s)));
    }
    if let Some(e) = end {
        request.start_max = Some(request.start_max.map_or(e, |m| m.min(e)));
    }
    request
}

fn matched_span(ctx: &TraceContext<'_>, i: usize, select: &[crate::plan::Field]) -> MatchedSpan {
    let s = ctx.spans[i];
    MatchedSpan {
        span_id: SpanId::from_bytes(&s.span.span_id).unwrap_or_default(),
        name: s.span.name.clone(),
        service: s.service.to_string(),
        start_time_unix_nano: s.span.start_time_unix_nano,
        duration_nanos: s
            .span
            .end_time_unix_nano
            .saturating_sub(s.span.start_time_unix_nano),
        attributes: select
            .iter()
            .filter_map(|f| {
                field_values(f, ctx, i)
                    .into_iter()
                    .next()
                    .map(|v| (f.label(), v))
            })
            .collect(),
    }
}
