//! The standard workload: trace shapes, timing, errors and events, deterministic from a seed.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spoor_model::otlp_collector::ExportTraceServiceRequest;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_trace::{span, status};
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status};

use crate::attrs::{self, AttrGen, EXCEPTIONS, LOG_EVENTS, SpanView, TraceCtx, kv};
use crate::dist::log_normal;
use crate::topology::{SERVICES, Tier, Topology};

/// 2026-01-01T00:00:00Z: the default time origin, so `Workload::new(seed)` is fully deterministic.
pub const DEFAULT_ORIGIN_UNIX_NANOS: u64 = 1_767_225_600_000_000_000;

/// Where trace start times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// Trace `i` starts at `origin + i * step` (deterministic).
    Fixed {
        origin_unix_nanos: u64,
        step_nanos: u64,
    },
    /// Each trace starts at the wall clock's now (for sending live load that queries can find
    /// with a look-back window). Everything else stays deterministic.
    Wall,
}

/// Probability that a trace is one of the rare huge ones (10k–20k spans).
const HUGE_TRACE_P: f64 = 0.0002;
/// Spans per trace: log-normal with this median and shape (p99 ≈ 290), capped.
const SPANS_MEDIAN: f64 = 14.0;
const SPANS_SIGMA: f64 = 1.3;
const SPANS_CAP: usize = 5000;
/// Per-hop self time: log-normal, p50 1 ms, p99 100 ms.
const HOP_MEDIAN_NS: f64 = 1_000_000.0;
const HOP_SIGMA: f64 = 1.98;
/// Fan-out cap: a node whose subtree does not fit under it within the depth goes deeper.
const MAX_FAN_OUT: usize = 50;
const ERROR_P: f64 = 0.02;
const ERROR_PROPAGATE_P: f64 = 0.3;
const LOG_EVENT_P: f64 = 0.03;

/// One node of a trace's tree, laid out breadth-first so a node's children are contiguous and
/// come after it.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    parent: u32,
    first_child: u32,
    children: u32,
    level: u16,
    service: u16,
    op: u16,
    sequential: bool,
    error: bool,
    self_ns: u64,
    dur_ns: u64,
    start_ns: u64,
    span_id: [u8; 8],
}

/// Generator of the standard workload. Two generators with the same seed (and a fixed
/// [`TimeSource`]) produce byte-identical spans.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: ChaCha8Rng,
    topo: Topology,
    attrs: AttrGen,
    time: TimeSource,
    traces: u64,
    nodes: Vec<Node>,
    budgets: Vec<usize>,
}

/// The spans of one trace, grouped per service; reused between traces to avoid reallocating.
#[derive(Debug, Clone, Default)]
pub struct TraceBuf {
    /// Spans per service index (see [`crate::SERVICES`]).
    pub per_service: Vec<Vec<Span>>,
    pub trace_id: [u8; 16],
    pub spans: usize,
}

impl Workload {
    /// A generator with the default fixed time origin (2026-01-01, traces 1 ms apart).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            topo: Topology::new(),
            attrs: AttrGen::new(),
            time: TimeSource::Fixed {
                origin_unix_nanos: DEFAULT_ORIGIN_UNIX_NANOS,
                step_nanos: 1_000_000,
            },
            traces: 0,
            nodes: Vec::new(),
            budgets: Vec::new(),
        }
    }

    /// Changes where trace start times come from.
    pub fn with_time(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// Number of traces generated so far.
    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// The next trace as OTLP resource spans, one `ResourceSpans` per service it touches.
    pub fn next_trace(&mut self) -> Vec<ResourceSpans> {
        let mut buf = TraceBuf::default();
        self.fill_trace(&mut buf);
        group(&mut buf.per_service)
    }

    /// An endless stream of export requests of whole traces, each with at least
    /// `spans_per_batch` spans (a request ends after the trace that reaches it).
    pub fn batches(
        seed: u64,
        spans_per_batch: usize,
    ) -> impl Iterator<Item = ExportTraceServiceRequest> {
        let mut w = Workload::new(seed);
        std::iter::from_fn(move || Some(w.next_batch(spans_per_batch).0))
    }

    /// The next export request of whole traces with at least `spans_per_batch` spans, its span
    /// count and its trace ids.
    pub fn next_batch(
        &mut self,
        spans_per_batch: usize,
    ) -> (ExportTraceServiceRequest, usize, Vec<[u8; 16]>) {
        let mut acc = TraceBuf::default();
        let mut ids = Vec::new();
        let mut spans = 0;
        let mut trace = TraceBuf::default();
        while spans < spans_per_batch.max(1) {
            self.fill_trace(&mut trace);
            spans += trace.spans;
            ids.push(trace.trace_id);
            if acc.per_service.len() < trace.per_service.len() {
                acc.per_service
                    .resize_with(trace.per_service.len(), Vec::new);
            }
            for (dst, src) in acc.per_service.iter_mut().zip(trace.per_service.iter_mut()) {
                dst.append(src);
            }
        }
        let request = ExportTraceServiceRequest {
            resource_spans: group(&mut acc.per_service),
        };
        (request, spans, ids)
    }

    /// Generates the next trace into `buf` (cleared first).
    pub fn fill_trace(&mut self, buf: &mut TraceBuf) {
        buf.per_service.resize_with(SERVICES.len(), Vec::new);
        for v in &mut buf.per_service {
            v.clear();
        }
        let n = self.span_count();
        let depth = self.max_depth(n);
        self.shape(n, depth);
        self.assign_services();
        self.timing_and_errors();
        let start = match self.time {
            TimeSource::Fixed {
                origin_unix_nanos,
                step_nanos,
            } => origin_unix_nanos.saturating_add(self.traces.saturating_mul(step_nanos)),
            TimeSource::Wall => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(DEFAULT_ORIGIN_UNIX_NANOS),
        };
        self.place(start);
        let mut trace_id = [0u8; 16];
        self.rng.fill_bytes(&mut trace_id);
        trace_id[0] |= 1; // never all zeros
        let ctx = TraceCtx::draw(&mut self.rng);
        for i in 0..self.nodes.len() {
            let span = self.span(i, &trace_id, &ctx);
            buf.per_service[usize::from(self.nodes[i].service)].push(span);
        }
        buf.trace_id = trace_id;
        buf.spans = self.nodes.len();
        self.traces += 1;
    }

    fn span_count(&mut self) -> usize {
        if self.rng.random_bool(HUGE_TRACE_P) {
            return self.rng.random_range(10_000..=20_000);
        }
        let x = log_normal(&mut self.rng, SPANS_MEDIAN, SPANS_SIGMA).round();
        (x as usize).clamp(1, SPANS_CAP)
    }

    /// Levels of the tree (root alone is 1): mostly 2–6, a 3 % tail up to 14.
    fn max_depth(&mut self, n: usize) -> u16 {
        if n == 1 {
            return 1;
        }
        if self.rng.random_bool(0.03) {
            return self.rng.random_range(7..=14);
        }
        let u = self.rng.random::<f64>();
        let cdf = [0.15, 0.45, 0.70, 0.88, 1.0];
        2 + cdf.iter().position(|p| u < *p).unwrap_or(4) as u16
    }

    fn fan_out(&mut self) -> usize {
        if self.rng.random_bool(0.03) {
            return self.rng.random_range(11..=50);
        }
        (log_normal(&mut self.rng, 2.5, 0.7) as usize).clamp(1, 10)
    }

    /// Lays out `n` nodes breadth-first with at most `depth` levels.
    fn shape(&mut self, n: usize, depth: u16) {
        // Deep traces are chains: narrow fan-out so the depth is actually reached.
        let deep = depth > 6;
        self.nodes.clear();
        self.budgets.clear();
        self.nodes.push(Node {
            level: 1,
            ..Node::default()
        });
        self.budgets.push(n - 1);
        let mut i = 0;
        while i < self.nodes.len() {
            let budget = self.budgets[i];
            if budget == 0 {
                i += 1;
                continue;
            }
            let level = self.nodes[i].level;
            let levels_left = depth.saturating_sub(level);
            let k = if levels_left <= 1 {
                budget.min(MAX_FAN_OUT)
            } else {
                // Enough children that the remaining levels can hold the budget.
                let need = ((budget as f64).powf(1.0 / f64::from(levels_left)).ceil() as usize)
                    .min(MAX_FAN_OUT);
                let f = if deep {
                    self.rng.random_range(1..=2)
                } else {
                    self.fan_out()
                };
                f.max(need).min(budget)
            };
            let rest = budget - k;
            let first = self.nodes.len();
            let mut shares: Vec<usize> = Vec::new();
            if rest > 0 {
                let weights: Vec<f64> = (0..k)
                    .map(|_| self.rng.random::<f64>().powi(2) + 0.01)
                    .collect();
                let total: f64 = weights.iter().sum();
                shares = weights
                    .iter()
                    .map(|w| ((rest as f64) * w / total) as usize)
                    .collect();
                let given: usize = shares.iter().sum();
                for _ in given..rest {
                    let j = self.rng.random_range(0..k);
                    shares[j] += 1;
                }
            }
            for j in 0..k {
                self.nodes.push(Node {
                    parent: i as u32,
                    level: level + 1,
                    ..Node::default()
                });
                self.budgets.push(shares.get(j).copied().unwrap_or(0));
            }
            self.nodes[i].first_child = first as u32;
            self.nodes[i].children = k as u32;
            i += 1;
        }
    }

    fn assign_services(&mut self) {
        let frontend = 0u16;
        let gateway = 1u16;
        let root = if self.rng.random_bool(0.75) {
            frontend
        } else {
            gateway
        };
        self.set_service(0, root);
        for i in 1..self.nodes.len() {
            let parent = usize::from(self.nodes[self.nodes[i].parent as usize].service);
            let pool = if self.nodes[i].children > 0 {
                let calling = &self.topo.calling_callees[parent];
                if calling.is_empty() {
                    &self.topo.callers
                } else {
                    calling
                }
            } else {
                let all = &self.topo.callees[parent];
                if all.is_empty() {
                    &self.topo.callers
                } else {
                    all
                }
            };
            let service = pool[self.rng.random_range(0..pool.len())];
            self.set_service(i, service);
        }
    }

    fn set_service(&mut self, i: usize, service: u16) {
        let ops = SERVICES[usize::from(service)].operations.len();
        self.nodes[i].service = service;
        self.nodes[i].op = self.rng.random_range(0..ops) as u16;
    }

    /// Self times, subtree durations (children before parents) and errors.
    fn timing_and_errors(&mut self) {
        const GAP_NS: u64 = 20_000;
        for i in (0..self.nodes.len()).rev() {
            let self_ns =
                log_normal(&mut self.rng, HOP_MEDIAN_NS, HOP_SIGMA).clamp(2_000.0, 30e9) as u64;
            let sequential = self.rng.random_bool(0.6);
            let mut error = self.rng.random_bool(ERROR_P);
            let node = self.nodes[i];
            let children = node.first_child as usize..(node.first_child + node.children) as usize;
            let mut child_part = 0u64;
            for c in children.clone() {
                let d = self.nodes[c].dur_ns + GAP_NS;
                child_part = if sequential {
                    child_part + d
                } else {
                    child_part.max(d)
                };
            }
            if !error && children.clone().any(|c| self.nodes[c].error) {
                error = self.rng.random_bool(ERROR_PROPAGATE_P);
            }
            let n = &mut self.nodes[i];
            n.self_ns = self_ns;
            n.dur_ns = self_ns + child_part;
            n.sequential = sequential;
            n.error = error;
        }
    }

    /// Start times (parents before children) and span ids.
    fn place(&mut self, trace_start: u64) {
        const GAP_NS: u64 = 20_000;
        self.nodes[0].start_ns = trace_start;
        for i in 0..self.nodes.len() {
            let mut id = [0u8; 8];
            self.rng.fill_bytes(&mut id);
            id[0] |= 1;
            let node = self.nodes[i];
            self.nodes[i].span_id = id;
            let mut cursor = node.start_ns + node.self_ns / 2 + GAP_NS;
            for c in node.first_child..node.first_child + node.children {
                let c = c as usize;
                self.nodes[c].start_ns = cursor;
                if node.sequential {
                    cursor += self.nodes[c].dur_ns + GAP_NS;
                }
            }
        }
    }

    fn span(&mut self, i: usize, trace_id: &[u8; 16], ctx: &TraceCtx) -> Span {
        let node = self.nodes[i];
        let service = &SERVICES[usize::from(node.service)];
        let op = &service.operations[usize::from(node.op)];
        let kind = match service.tier {
            Tier::Frontend | Tier::Gateway | Tier::Business => span::SpanKind::Server,
            Tier::Database | Tier::Cache => span::SpanKind::Client,
            Tier::Queue => span::SpanKind::Producer,
            Tier::Worker => span::SpanKind::Consumer,
        };
        let view = SpanView {
            service,
            op,
            error: node.error,
        };
        let mut attributes = Vec::new();
        self.attrs
            .span_attrs(&mut self.rng, ctx, &view, &mut attributes);
        let end = node.start_ns + node.dur_ns;
        let mut events = Vec::new();
        let status = if node.error {
            let (ty, msg) = EXCEPTIONS[self.rng.random_range(0..EXCEPTIONS.len())];
            events.push(span::Event {
                time_unix_nano: end.saturating_sub(node.self_ns / 4),
                name: "exception".to_owned(),
                attributes: vec![
                    kv("exception.type", Value::StringValue(ty.to_owned())),
                    kv("exception.message", Value::StringValue(msg.to_owned())),
                ],
                dropped_attributes_count: 0,
            });
            Some(Status {
                message: msg.to_owned(),
                code: status::StatusCode::Error as i32,
            })
        } else {
            if self.rng.random_bool(LOG_EVENT_P) {
                let msg = LOG_EVENTS[self.rng.random_range(0..LOG_EVENTS.len())];
                events.push(span::Event {
                    time_unix_nano: node.start_ns + node.self_ns / 4,
                    name: msg.to_owned(),
                    attributes: vec![kv("log.level", Value::StringValue("info".to_owned()))],
                    dropped_attributes_count: 0,
                });
            }
            None
        };
        let parent_span_id = if i == 0 {
            Vec::new()
        } else {
            self.nodes[node.parent as usize].span_id.to_vec()
        };
        Span {
            trace_id: trace_id.to_vec(),
            span_id: node.span_id.to_vec(),
            parent_span_id,
            name: op.name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: node.start_ns,
            end_time_unix_nano: end,
            attributes,
            events,
            status,
            flags: 0x101, // sampled; is-remote known, not remote
            ..Default::default()
        }
    }
}

/// Moves per-service span lists into `ResourceSpans`, one per non-empty service.
fn group(per_service: &mut [Vec<Span>]) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    for (i, spans) in per_service.iter_mut().enumerate() {
        if spans.is_empty() {
            continue;
        }
        let service = &SERVICES[i];
        out.push(ResourceSpans {
            resource: Some(attrs::resource(service)),
            scope_spans: vec![ScopeSpans {
                scope: Some(attrs::scope(service)),
                spans: std::mem::take(spans),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    out
}
