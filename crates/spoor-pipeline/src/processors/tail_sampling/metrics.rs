//! The tail sampler's counters, registered once per process:
//! `spoor_tail_sampling_traces_sampled_total{pipeline,processor,policy}` and
//! `_traces_not_sampled_total` (what each policy said), `_policy_errors_total`,
//! `_decisions_total{pipeline,processor,decision}` (the final decision: sampled, not_sampled,
//! dropped), `_late_spans_total`, `_traces_decided_early_total`, and the gauges
//! `_traces_pending` and `_spans_pending`.

use prometheus_client::encoding::EncodeLabelSet;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;
use spoor_telemetry::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    pipeline: String,
    processor: String,
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    pipeline: String,
    processor: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    pipeline: String,
    processor: String,
}

/// The metric families (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct TailSamplingMetrics {
    sampled: Family<PolicyLabels, Counter>,
    not_sampled: Family<PolicyLabels, Counter>,
    errors: Family<PolicyLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    late: Family<Labels, Counter>,
    early: Family<Labels, Counter>,
    traces_pending: Family<Labels, Gauge>,
    spans_pending: Family<Labels, Gauge>,
}

/// The counters of one tail sampler.
#[derive(Clone)]
pub(crate) struct Counters {
    /// Per policy, in the sampler's policy order: sampled, not sampled, errors.
    pub policy: Vec<(Counter, Counter, Counter)>,
    pub sampled: Counter,
    pub not_sampled: Counter,
    pub dropped: Counter,
    pub late_spans: Counter,
    pub decided_early: Counter,
    pub traces_pending: Gauge,
    pub spans_pending: Gauge,
}

impl TailSamplingMetrics {
    pub(crate) fn register(t: &Telemetry) -> Self {
        let m = Self::default();
        t.register(
            "tail_sampling_traces_sampled",
            "Traces a tail sampling policy sampled",
            m.sampled.clone(),
        );
        t.register(
            "tail_sampling_traces_not_sampled",
            "Traces a tail sampling policy did not sample",
            m.not_sampled.clone(),
        );
        t.register(
            "tail_sampling_policy_errors",
            "Tail sampling policy evaluations that failed (the policy was skipped)",
            m.errors.clone(),
        );
        t.register(
            "tail_sampling_decisions",
            "Final tail sampling decisions by outcome (sampled, not_sampled, dropped)",
            m.decisions.clone(),
        );
        t.register(
            "tail_sampling_late_spans",
            "Spans that arrived after their trace was decided and followed the decision",
            m.late.clone(),
        );
        t.register(
            "tail_sampling_traces_decided_early",
            "Traces decided before decision_wait because num_traces was reached",
            m.early.clone(),
        );
        t.register(
            "tail_sampling_traces_pending",
            "Traces buffered and waiting for a decision",
            m.traces_pending.clone(),
        );
        t.register(
            "tail_sampling_spans_pending",
            "Spans buffered and waiting for their trace's decision",
            m.spans_pending.clone(),
        );
        m
    }

    pub(crate) fn counters(&self, pipeline: &str, processor: &str, policies: &[&str]) -> Counters {
        let l = Labels {
            pipeline: pipeline.to_string(),
            processor: processor.to_string(),
        };
        let p = |policy: &str| PolicyLabels {
            pipeline: pipeline.to_string(),
            processor: processor.to_string(),
            policy: policy.to_string(),
        };
        let d = |decision: &str| {
            self.decisions
                .get_or_create(&DecisionLabels {
                    pipeline: pipeline.to_string(),
                    processor: processor.to_string(),
                    decision: decision.to_string(),
                })
                .clone()
        };
        Counters {
            policy: policies
                .iter()
                .map(|name| {
                    (
                        self.sampled.get_or_create(&p(name)).clone(),
                        self.not_sampled.get_or_create(&p(name)).clone(),
                        self.errors.get_or_create(&p(name)).clone(),
                    )
                })
                .collect(),
            sampled: d("sampled"),
            not_sampled: d("not_sampled"),
            dropped: d("dropped"),
            late_spans: self.late.get_or_create(&l).clone(),
            decided_early: self.early.get_or_create(&l).clone(),
            traces_pending: self.traces_pending.get_or_create(&l).clone(),
            spans_pending: self.spans_pending.get_or_create(&l).clone(),
        }
    }
}
