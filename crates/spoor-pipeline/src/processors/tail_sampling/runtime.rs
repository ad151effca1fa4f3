//! The running tail sampler: the trace buffer, the decision cache and the task that decides
//! traces once their `decision_wait` has passed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use spoor_model::{ErrorKind, ResourceSpans, ScopeSpans, SinkError, TraceSink, span_count};
use spoor_telemetry::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::TailSamplingConfig;
use super::metrics::Counters;
use super::policy::{Decision, Now, Policy, TraceData};

type TraceId = [u8; 16];

/// The sink in front of the rest of the pipeline. Dropping every clone of it makes the decision
/// task decide the pending traces (or drop them, with `drop_pending_traces_on_shutdown`) and
/// stop.
pub(crate) struct TailSampler {
    shared: Arc<Shared>,
    _alive: mpsc::Sender<()>,
}

struct Shared {
    config: TailSamplingConfig,
    policies: Vec<(String, Policy)>,
    counters: Counters,
    /// The pipeline's `spoor_processor_spans_dropped_total` for this processor.
    dropped_spans: Counter,
    next: Arc<dyn TraceSink>,
    state: Mutex<State>,
}

struct Pending {
    arrival: Instant,
    batches: Vec<ResourceSpans>,
    spans: i64,
}

#[derive(Default)]
struct State {
    traces: HashMap<TraceId, Pending>,
    /// Pending trace ids, oldest first (each id is in here exactly while it is in `traces`).
    order: VecDeque<TraceId>,
    spans: i64,
    sampled: FifoSet,
    not_sampled: FifoSet,
}

/// A bounded set that forgets its oldest members.
#[derive(Default)]
struct FifoSet {
    cap: usize,
    set: HashSet<TraceId>,
    order: VecDeque<TraceId>,
}

impl FifoSet {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    fn insert(&mut self, id: TraceId) {
        if self.cap == 0 || !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

impl TailSampler {
    /// Starts the sampler and its decision task (returned, so shutdown can wait for it).
    pub(crate) fn start(
        config: &TailSamplingConfig,
        policies: Vec<(String, Policy)>,
        counters: Counters,
        dropped_spans: Counter,
        next: Arc<dyn TraceSink>,
    ) -> (Self, JoinHandle<()>) {
        let cache = |size: u64| {
            let size = if size == 0 { config.num_traces } else { size };
            FifoSet::new(usize::try_from(size).unwrap_or(usize::MAX))
        };
        let state = State {
            sampled: cache(config.decision_cache.sampled_cache_size),
            not_sampled: cache(config.decision_cache.non_sampled_cache_size),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config: config.clone(),
            policies,
            counters,
            dropped_spans,
            next,
            state: Mutex::new(state),
        });
        let (alive, closed) = mpsc::channel(1);
        let task = tokio::spawn(run(shared.clone(), closed));
        (
            Self {
                shared,
                _alive: alive,
            },
            task,
        )
    }
}

#[async_trait::async_trait]
impl TraceSink for TailSampler {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let forward = self.shared.buffer(batch)?;
        if forward.is_empty() {
            return Ok(());
        }
        self.shared.next.consume(forward).await
    }
}

async fn run(shared: Arc<Shared>, mut closed: mpsc::Receiver<()>) {
    let wait = shared.config.decision_wait.get();
    let tick = (wait / 4).clamp(
        std::time::Duration::from_millis(5),
        std::time::Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = closed.recv() => break,
        }
        let out = shared.decide_due(Some(Instant::now()));
        shared.pass_on(out).await;
    }
    let out = if shared.config.drop_pending_traces_on_shutdown {
        shared.drop_pending();
        Vec::new()
    } else {
        shared.decide_due(None)
    };
    shared.pass_on(out).await;
}

fn now() -> Now {
    Now {
        secs: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    }
}

impl Shared {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, SinkError> {
        self.state
            .lock()
            .map_err(|_| SinkError::new(ErrorKind::Internal, "tail sampling state poisoned"))
    }

    /// Buffers the spans of new and pending traces; returns the late spans of sampled traces
    /// and the kept traces that had to be decided early to stay within `num_traces`.
    fn buffer(&self, batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, SinkError> {
        let arrival = Instant::now();
        let mut forward = Vec::new();
        let mut st = self.lock()?;
        for (id, rss) in split_by_trace(batch) {
            let n = span_count(&rss) as i64;
            st.spans += n;
            if let Some(p) = st.traces.get_mut(&id) {
                p.batches.extend(rss);
                p.spans += n;
                continue;
            }
            if st.sampled.set.contains(&id) {
                st.spans -= n;
                self.counters.late_spans.inc_by(n as u64);
                forward.extend(rss);
                continue;
            }
            if st.not_sampled.set.contains(&id) {
                st.spans -= n;
                self.counters.late_spans.inc_by(n as u64);
                self.dropped_spans.inc_by(n as u64);
                continue;
            }
            st.traces.insert(
                id,
                Pending {
                    arrival,
                    batches: rss,
                    spans: n,
                },
            );
            st.order.push_back(id);
            while st.traces.len() as u64 > self.config.num_traces {
                let Some(oldest) = st.order.pop_front() else {
                    break;
                };
                if let Some(p) = st.traces.remove(&oldest) {
                    self.counters.decided_early.inc();
                    forward.extend(self.decide(&mut st, oldest, p));
                }
            }
        }
        self.gauges(&st);
        Ok(forward)
    }

    /// Decides every trace that arrived at or before `now - decision_wait` (every trace when
    /// `now` is `None`); returns the spans of the kept ones.
    fn decide_due(&self, now: Option<Instant>) -> Vec<ResourceSpans> {
        let Ok(mut st) = self.lock() else {
            return Vec::new();
        };
        let wait = self.config.decision_wait.get();
        let mut out = Vec::new();
        while let Some(&id) = st.order.front() {
            let due = match (now, st.traces.get(&id)) {
                (_, None) => true,
                (None, Some(_)) => true,
                (Some(now), Some(p)) => p.arrival + wait <= now,
            };
            if !due {
                break;
            }
            st.order.pop_front();
            if let Some(p) = st.traces.remove(&id) {
                out.extend(self.decide(&mut st, id, p));
            }
        }
        self.gauges(&st);
        out
    }

    fn drop_pending(&self) {
        if let Ok(mut st) = self.lock() {
            let spans: i64 = st.traces.values().map(|p| p.spans).sum();
            self.dropped_spans.inc_by(spans as u64);
            st.traces.clear();
            st.order.clear();
            st.spans = 0;
            self.gauges(&st);
        }
    }

    /// Runs the policies on one trace, records the decision, and returns its spans if kept.
    fn decide(&self, st: &mut State, id: TraceId, p: Pending) -> Vec<ResourceSpans> {
        st.spans -= p.spans;
        let mut trace = TraceData {
            id,
            batches: p.batches,
            span_count: p.spans,
        };
        let (decision, survival) = self.evaluate(&mut trace, now());
        match decision {
            Decision::Sampled => {
                self.counters.sampled.inc();
                st.sampled.insert(id);
                spoor_receivers::sampling::survival::multiply(&mut trace.batches, survival);
                trace.batches
            }
            Decision::NotSampled | Decision::Dropped => {
                if decision == Decision::Dropped {
                    self.counters.dropped.inc();
                } else {
                    self.counters.not_sampled.inc();
                }
                st.not_sampled.insert(id);
                self.dropped_spans.inc_by(p.spans as u64);
                Vec::new()
            }
        }
    }

    /// The Collector's decision: a matching `drop` policy drops the trace; otherwise it is kept
    /// if any policy samples it. With it, the probability a kept trace had of being kept:
    /// `1 - Π(1 - p)` over the policies that kept it (p = their probabilistic part, 1 for a
    /// deterministic policy) and the top-level `probabilistic` policies that did not (a policy
    /// that did not keep it for another reason, e.g. an `and` whose attribute did not match, gave
    /// it no chance).
    fn evaluate(&self, trace: &mut TraceData, now: Now) -> (Decision, f64) {
        let mut sampled = false;
        let mut missed = 1.0;
        for (i, (_, policy)) in self.policies.iter().enumerate() {
            let counters = &self.counters.policy[i];
            match policy.evaluate(trace, now) {
                Err(_) => {
                    counters.2.inc();
                }
                Ok(Decision::Dropped) => {
                    counters.1.inc();
                    return (Decision::Dropped, 0.0);
                }
                Ok(Decision::Sampled) => {
                    counters.0.inc();
                    sampled = true;
                    missed *= 1.0 - policy.keep_probability();
                    if self.config.sample_on_first_match {
                        break;
                    }
                }
                Ok(Decision::NotSampled) => {
                    counters.1.inc();
                    if let Policy::Probabilistic { probability, .. } = policy {
                        missed *= 1.0 - probability;
                    }
                }
            }
        }
        if sampled {
            (Decision::Sampled, 1.0 - missed)
        } else {
            (Decision::NotSampled, 0.0)
        }
    }

    fn gauges(&self, st: &State) {
        self.counters.traces_pending.set(st.traces.len() as i64);
        self.counters.spans_pending.set(st.spans);
    }

    async fn pass_on(&self, out: Vec<ResourceSpans>) {
        if out.is_empty() {
            return;
        }
        let n = span_count(&out);
        if let Err(e) = self.next.consume(out).await {
            tracing::warn!(spans = n, error = %e, "tail_sampling: sampled spans were refused downstream");
        }
    }
}

/// Splits a batch into one batch per trace id, keeping each span's resource and scope.
fn split_by_trace(batch: Vec<ResourceSpans>) -> Vec<(TraceId, Vec<ResourceSpans>)> {
    let mut out: Vec<(TraceId, Vec<ResourceSpans>)> = Vec::new();
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    for mut rs in batch {
        let scope_spans = std::mem::take(&mut rs.scope_spans);
        // Per trace: the index in its batch list of the ResourceSpans made for this `rs`.
        let mut made: HashMap<TraceId, usize> = HashMap::new();
        for ss in scope_spans {
            let mut by_trace: Vec<(TraceId, ScopeSpans)> = Vec::new();
            let mut at: HashMap<TraceId, usize> = HashMap::new();
            for span in ss.spans {
                let id: TraceId = span.trace_id.as_slice().try_into().unwrap_or([0; 16]);
                match at.get(&id) {
                    Some(&k) => by_trace[k].1.spans.push(span),
                    None => {
                        at.insert(id, by_trace.len());
                        by_trace.push((
                            id,
                            ScopeSpans {
                                scope: ss.scope.clone(),
                                spans: vec![span],
                                schema_url: ss.schema_url.clone(),
                            },
                        ));
                    }
                }
            }
            for (id, scoped) in by_trace {
                let slot = *index.entry(id).or_insert_with(|| {
                    out.push((id, Vec::new()));
                    out.len() - 1
                });
                let list = &mut out[slot].1;
                match made.get(&id) {
                    Some(&j) => list[j].scope_spans.push(scoped),
                    None => {
                        list.push(ResourceSpans {
                            resource: rs.resource.clone(),
                            scope_spans: vec![scoped],
                            schema_url: rs.schema_url.clone(),
                        });
                        made.insert(id, list.len() - 1);
                    }
                }
            }
        }
    }
    out
}
