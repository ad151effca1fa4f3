//! TraceQL metrics over a time range: the spans a metrics query's spanset part matches, bucketed
//! by start time into steps and grouped into series by the `by()` fields.

use std::collections::BTreeMap;

use spoor_storage::ScanRequest;

use crate::plan::{TraceContext, Value, evaluate, field_values};
use crate::search::PLAN_CANDIDATE_LIMIT;
use crate::service::{QueryError, QueryService};
use crate::traceql::{MetricsFn, MetricsQuery};

/// Most steps one range query may ask for (as Prometheus bounds points per series).
pub const MAX_METRICS_STEPS: u64 = 11_000;
/// Most series one query returns.
pub const MAX_METRICS_SERIES: usize = 1_000;

/// One series: its labels and one sample per step that had spans.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSeries {
    pub labels: Vec<(String, Value)>,
    /// (step start, unix milliseconds; value).
    pub samples: Vec<(u64, f64)>,
}

/// A metrics query over `[start, end)` (unix nanoseconds) in steps of `step` nanoseconds.
#[derive(Debug, Clone)]
pub struct MetricsRange {
    pub query: MetricsQuery,
    pub start: u64,
    pub end: u64,
    pub step: u64,
}

type Labels = Vec<(String, Value)>;
/// Values per step index.
type StepValues = BTreeMap<u64, Vec<f64>>;

pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let frac = rank - rank.floor();
    sorted[lo] + (sorted[hi.min(sorted.len() - 1)] - sorted[lo]) * frac
}

/// A value as a number for the `*_over_time` functions: durations in seconds, as Tempo reports.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Duration(d) => Some(*d as f64 / 1e9),
        other => other.as_f64(),
    }
}

/// The power-of-two bucket of a value as Tempo's `histogram_over_time` labels it: the value
/// rounded up to the next power of two, in seconds for durations; none below 2 (ns for
/// durations) and for non-integer values.
fn log2_bucket(v: &Value) -> Option<f64> {
    match v {
        Value::Duration(d) if *d >= 2 => Some(d.checked_next_power_of_two()? as f64 / 1e9),
        Value::Int(i) if *i >= 2 => Some((*i as u64).checked_next_power_of_two()? as f64),
        _ => None,
    }
}

impl QueryService {
    /// The series of `range`, sorted by labels; `InvalidInput` when the steps exceed
    /// [`MAX_METRICS_STEPS`].
    pub async fn metrics_range(
        &self,
        range: &MetricsRange,
    ) -> Result<Vec<MetricsSeries>, QueryError> {
        let steps = range
            .end
            .saturating_sub(range.start)
            .div_ceil(range.step.max(1));
        let push = range.query.spans.pushdown();
        let candidates = self
            .scan(&ScanRequest {
                limit: PLAN_CANDIDATE_LIMIT,
                ..crate::search::within(
                    push,
                    Some(range.start.saturating_sub(24 * 3_600_000_000_000)),
                    Some(range.end),
                )
            })
            .await?;
        // (labels text) -> (labels, step -> values)
        let mut series: BTreeMap<String, (Labels, StepValues)> = BTreeMap::new();
        for trace in &candidates {
            let ctx = TraceContext::new(trace);
            let mut spans: Vec<usize> = evaluate(&range.query.spans, &ctx)
                .into_iter()
                .flat_map(|s| s.spans)
                .collect();
            spans.sort_unstable();
            spans.dedup();
            for i in spans {
                let start = ctx.spans[i].span.start_time_unix_nano;
                if start < range.start || start >= range.end {
                    continue;
                }
                let step = (start - range.start) / range.step.max(1);
                if step >= steps {
                    continue;
                }
                let mut labels: Vec<(String, Value)> = range
                    .query
                    .by
                    .iter()
                    .map(|f| {
                        let v = field_values(f, &ctx, i)
                            .into_iter()
                            .next()
                            .unwrap_or(Value::Nil);
                        (f.label(), v)
                    })
                    .collect();
                let value = match &range.query.function {
                    MetricsFn::Rate | MetricsFn::CountOverTime => Some(1.0),
                    MetricsFn::HistogramOverTime(f) => {
                        let Some(bucket) = field_values(f, &ctx, i).iter().find_map(log2_bucket)
                        else {
                            continue;
                        };
                        labels.push(("__bucket".to_string(), Value::Float(bucket)));
                        Some(1.0)
                    }
                    MetricsFn::MinOverTime(f)
                    | MetricsFn::MaxOverTime(f)
                    | MetricsFn::AvgOverTime(f)
                    | MetricsFn::SumOverTime(f)
                    | MetricsFn::QuantileOverTime(f, _) => {
                        field_values(f, &ctx, i).iter().find_map(numeric)
                    }
                };
                let Some(value) = value else { continue };
                let key = format!("{labels:?}");
                if !series.contains_key(&key) && series.len() >= MAX_METRICS_SERIES {
                    continue;
                }
                series
                    .entry(key)
                    .or_insert_with(|| (labels, BTreeMap::new()))
                    .1
                    .entry(step)
                    .or_default()
                    .push(value);
            }
        }
        let step_seconds = range.step as f64 / 1e9;
        let ms = |step: u64| (range.start + step * range.step) / 1_000_000;
        let mut out = Vec::new();
        for (_, (labels, steps)) in series {
            match &range.query.function {
                MetricsFn::QuantileOverTime(_, qs) => {
                    for q in qs {
                        let mut l = labels.clone();
                        l.push(("p".to_string(), Value::Float(*q)));
                        let samples = steps
                            .iter()
                            .map(|(s, vs)| {
                                let mut sorted = vs.clone();
                                sorted.sort_by(f64::total_cmp);
                                (ms(*s), quantile(&sorted, *q))
                            })
                            .collect();
                        out.push(MetricsSeries { labels: l, samples });
                    }
                }
                f => {
                    let samples = steps
                        .iter()
                        .map(|(s, vs)| {
                            let v = match f {
                                MetricsFn::Rate => vs.len() as f64 / step_seconds,
                                MetricsFn::CountOverTime | MetricsFn::HistogramOverTime(_) => {
                                    vs.len() as f64
                                }
                                MetricsFn::MinOverTime(_) => {
                                    vs.iter().copied().fold(f64::INFINITY, f64::min)
                                }
                                MetricsFn::MaxOverTime(_) => {
                                    vs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                                }
                                MetricsFn::AvgOverTime(_) => {
                                    vs.iter().sum::<f64>() / vs.len() as f64
                                }
                                _ => vs.iter().sum::<f64>(),
                            };
                            (ms(*s), v)
                        })
                        .collect();
                    out.push(MetricsSeries { labels, samples });
                }
            }
        }
        Ok(out)
    }
}
