//! The head: spans written since the last block cut, held in memory and queryable at once.
//!
//! Resources and scopes are interned (one copy per distinct value), spans are indexed by trace.
//! The same structure collects rows during compaction before they are encoded as a block.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use spoor_model::otlp_common::InstrumentationScope;
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, Span, SpanId, SpanRecord, TraceId};
use spoor_storage::{SpanMatcher, TraceQuery};

/// Interned values, looked up by their protobuf encoding.
#[derive(Default)]
pub(crate) struct Interner<T> {
    by_bytes: HashMap<Vec<u8>, u32>,
    pub(crate) values: Vec<Arc<T>>,
}

impl<T: Message + Clone> Interner<T> {
    pub(crate) fn intern(&mut self, value: &T) -> u32 {
        let bytes = value.encode_to_vec();
        if let Some(idx) = self.by_bytes.get(&bytes) {
            return *idx;
        }
        self.intern_new(bytes, Arc::new(value.clone()))
    }

    pub(crate) fn intern_arc(&mut self, value: &Arc<T>) -> u32 {
        let bytes = value.encode_to_vec();
        if let Some(idx) = self.by_bytes.get(&bytes) {
            return *idx;
        }
        self.intern_new(bytes, value.clone())
    }

    fn intern_new(&mut self, bytes: Vec<u8>, value: Arc<T>) -> u32 {
        let idx = self.values.len() as u32;
        self.values.push(value);
        self.by_bytes.insert(bytes, idx);
        idx
    }
}

/// One span in the head. `resource`/`scope` index the interners; `u32::MAX` means absent.
pub(crate) struct HeadSpan {
    pub(crate) trace: TraceId,
    pub(crate) resource: u32,
    pub(crate) scope: u32,
    pub(crate) span: Span,
}

pub(crate) const NONE: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Head {
    pub(crate) spans: Vec<HeadSpan>,
    traces: HashMap<TraceId, Vec<u32>>,
    pub(crate) resources: Interner<Resource>,
    pub(crate) scopes: Interner<InstrumentationScope>,
    /// Encoded bytes written into this head (WAL payload sizes).
    pub(crate) bytes: u64,
    /// Clock time of the first write, for the cut interval.
    pub(crate) first_write: Option<u64>,
    pub(crate) min_start: u64,
    pub(crate) max_start: u64,
}

impl Head {
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Adds a batch; spans with an invalid trace id are skipped (receivers reject them).
    pub(crate) fn insert_batch(&mut self, batch: Vec<ResourceSpans>, bytes: u64, now: u64) {
        self.first_write.get_or_insert(now);
        self.bytes += bytes;
        for rs in batch {
            let res = rs
                .resource
                .as_ref()
                .map_or(NONE, |r| self.resources.intern(r));
            for ss in rs.scope_spans {
                let scope = ss.scope.as_ref().map_or(NONE, |s| self.scopes.intern(s));
                for span in ss.spans {
                    self.push(res, scope, span);
                }
            }
        }
    }

    /// Adds one decoded row (compaction).
    pub(crate) fn insert_row(
        &mut self,
        resource: Option<&Arc<Resource>>,
        scope: Option<&Arc<InstrumentationScope>>,
        span: Span,
    ) {
        let res = resource.map_or(NONE, |r| self.resources.intern_arc(r));
        let scope = scope.map_or(NONE, |s| self.scopes.intern_arc(s));
        self.push(res, scope, span);
    }

    fn push(&mut self, resource: u32, scope: u32, span: Span) {
        let Ok(trace) = TraceId::from_bytes(&span.trace_id) else {
            return;
        };
        if trace.is_zero() {
            return;
        }
        let start = span.start_time_unix_nano;
        if self.spans.is_empty() {
            self.min_start = start;
            self.max_start = start;
        } else {
            self.min_start = self.min_start.min(start);
            self.max_start = self.max_start.max(start);
        }
        let idx = self.spans.len() as u32;
        self.traces.entry(trace).or_default().push(idx);
        self.spans.push(HeadSpan {
            trace,
            resource,
            scope,
            span,
        });
    }

    pub(crate) fn resource(&self, idx: u32) -> Option<&Resource> {
        self.resources.values.get(idx as usize).map(|r| r.as_ref())
    }

    pub(crate) fn scope(&self, idx: u32) -> Option<&InstrumentationScope> {
        self.scopes.values.get(idx as usize).map(|s| s.as_ref())
    }

    /// The spans of one trace as records.
    pub(crate) fn trace_records(&self, id: &TraceId) -> Vec<SpanRecord> {
        let Some(idxs) = self.traces.get(id) else {
            return Vec::new();
        };
        idxs.iter()
            .filter_map(|i| self.spans.get(*i as usize))
            .map(|s| SpanRecord {
                resource: self.resource(s.resource).cloned(),
                scope: self.scope(s.scope).cloned(),
                span: s.span.clone(),
            })
            .collect()
    }

    /// Earliest span start of a trace in this head.
    pub(crate) fn trace_start(&self, id: &TraceId) -> Option<u64> {
        self.traces.get(id).and_then(|idxs| {
            idxs.iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .map(|s| s.span.start_time_unix_nano)
                .min()
        })
    }

    /// Traces with a span matching `query`, with the matching trace's earliest start here.
    pub(crate) fn search(&self, query: &TraceQuery, out: &mut HashMap<TraceId, u64>) {
        if self.is_empty() {
            return;
        }
        if query.start_min.is_some_and(|m| self.max_start < m)
            || query.start_max.is_some_and(|m| self.min_start > m)
        {
            return;
        }
        let matcher = SpanMatcher::new(query);
        for (id, idxs) in &self.traces {
            let hit = idxs
                .iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .any(|s| {
                    matcher.matches_parts(self.resource(s.resource), self.scope(s.scope), &s.span)
                });
            if hit && let Some(start) = self.trace_start(id) {
                let e = out.entry(*id).or_insert(start);
                *e = (*e).min(start);
            }
        }
    }

    /// Row order of a block: by trace id, then start time.
    pub(crate) fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
        order.sort_by(|a, b| {
            let (a, b) = (&self.spans[*a as usize], &self.spans[*b as usize]);
            (a.trace, a.span.start_time_unix_nano).cmp(&(b.trace, b.span.start_time_unix_nano))
        });
        order
    }

    /// Service of a span (for catalogs and dependencies).
    pub(crate) fn service_of(&self, s: &HeadSpan) -> &str {
        spoor_model::service_name(self.resource(s.resource))
    }

    /// Parent→child service call counts for spans starting in `[start, end]`.
    pub(crate) fn dependencies(
        &self,
        start: u64,
        end: u64,
        out: &mut HashMap<(String, String), u64>,
    ) {
        for idxs in self.traces.values() {
            let services: HashMap<SpanId, &str> = idxs
                .iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .filter_map(|s| {
                    SpanId::from_bytes(&s.span.span_id)
                        .ok()
                        .map(|id| (id, self.service_of(s)))
                })
                .collect();
            for s in idxs.iter().filter_map(|i| self.spans.get(*i as usize)) {
                let t = s.span.start_time_unix_nano;
                if t < start || t > end {
                    continue;
                }
                let Ok(parent) = SpanId::from_bytes(&s.span.parent_span_id) else {
                    continue;
                };
                let child = self.service_of(s);
                if let Some(p) = services.get(&parent)
                    && *p != child
                {
                    *out.entry((p.to_string(), child.to_string())).or_default() += 1;
                }
            }
        }
    }
}
