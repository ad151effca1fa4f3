//! The head: spans written since the last block cut, held in memory and queryable at once.
//!
//! Spans are held as their protobuf encoding, copied from the WAL record into 1 MiB chunks,
//! beside a small fixed-size index entry (trace id, resource, scope, start, end), so the head
//! costs about its WAL bytes plus 64 bytes a span instead of the several times more that
//! decoded OTLP structures take. A span is decoded only when a reader needs all of it: a
//! trace by id, a search condition on attributes, or the block writer.
//! Resources and scopes are interned (one decoded copy per distinct encoding), spans are
//! indexed by trace. The same structure collects rows during compaction.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use spoor_model::otlp_collector::ExportTraceServiceRequest;
use spoor_model::otlp_common::InstrumentationScope;
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, Span, SpanId, SpanRecord, TraceId, service_name};
use spoor_storage::ScanRequest;

use crate::wire::{self, SpanPeek, WireError};

/// Interned values, looked up by their protobuf encoding.
#[derive(Default)]
pub(crate) struct Interner<T> {
    by_bytes: HashMap<Vec<u8>, u32>,
    pub(crate) values: Vec<Arc<T>>,
    /// Heap bytes held (encodings, twice: key and a rough decoded size).
    bytes: usize,
}

impl<T: Message + Default> Interner<T> {
    /// Interns an encoded value; a value that does not decode is an error.
    pub(crate) fn intern_bytes(&mut self, bytes: &[u8]) -> Result<u32, WireError> {
        if let Some(idx) = self.by_bytes.get(bytes) {
            return Ok(*idx);
        }
        let value =
            T::decode(bytes).map_err(|_| WireError::new("undecodable resource or scope"))?;
        Ok(self.intern_new(bytes.to_vec(), Arc::new(value)))
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
        self.bytes += 3 * bytes.len() + 64;
        self.by_bytes.insert(bytes, idx);
        idx
    }
}

/// The resource and scope slices of the previous span, with their interned numbers.
type LastGroup<'a> = (Option<&'a [u8]>, u32, Option<&'a [u8]>, u32);

/// The same slice of one payload (the walk hands out each group's resource and scope slice).
fn same(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        _ => false,
    }
}

/// One span in the head: its index fields and where its encoding is. `resource`/`scope` index
/// the interners; `u32::MAX` means absent.
pub(crate) struct HeadSpan {
    pub(crate) trace: TraceId,
    pub(crate) resource: u32,
    pub(crate) scope: u32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    chunk: u32,
    offset: u32,
    len: u32,
}

pub(crate) const NONE: u32 = u32::MAX;

/// Size of the chunks span encodings are copied into (a larger span gets its own chunk).
const CHUNK: usize = 1 << 20;

#[derive(Default)]
pub(crate) struct Head {
    pub(crate) spans: Vec<HeadSpan>,
    chunks: Vec<Vec<u8>>,
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

    /// Memory the head holds, estimated from its allocations (chunks, index, trace map,
    /// interners).
    pub(crate) fn memory_bytes(&self) -> u64 {
        let chunks: usize = self.chunks.iter().map(Vec::capacity).sum();
        let index = self.spans.capacity() * std::mem::size_of::<HeadSpan>();
        // A map entry (id, Vec header, hash slot) plus the Vec's buffer of span numbers.
        let traces = self.traces.capacity() * 56 + self.spans.len() * 8;
        (chunks + index + traces + self.resources.bytes + self.scopes.bytes) as u64
    }

    /// Adds the spans of an encoded `ExportTraceServiceRequest` (a WAL record's payload);
    /// `observe(service, name, kind, start)` is called for each span added. Spans with an
    /// invalid trace id are skipped (receivers reject them). On a malformed payload nothing
    /// is added.
    pub(crate) fn insert_payload(
        &mut self,
        payload: &[u8],
        bytes: u64,
        now: u64,
        mut observe: impl FnMut(&str, &str, i32, u64),
    ) -> Result<(), WireError> {
        // Validate the whole record before changing anything.
        wire::walk_request(payload, |_, _, _| {})?;
        // Resources and scopes repeat across records: intern each distinct encoding once.
        let mut failed = None;
        let mut last: Option<LastGroup<'_>> = None;
        let mut rows = Vec::new();
        wire::walk_request(payload, |r, s, span| {
            let (res, scope) = match last {
                Some((lr, ri, ls, si)) if same(lr, r) && same(ls, s) => (ri, si),
                _ => {
                    let ri = match r.map(|b| self.resources.intern_bytes(b)).transpose() {
                        Ok(i) => i.unwrap_or(NONE),
                        Err(e) => {
                            failed = Some(e);
                            NONE
                        }
                    };
                    let si = match s.map(|b| self.scopes.intern_bytes(b)).transpose() {
                        Ok(i) => i.unwrap_or(NONE),
                        Err(e) => {
                            failed = Some(e);
                            NONE
                        }
                    };
                    last = Some((r, ri, s, si));
                    (ri, si)
                }
            };
            rows.push((res, scope, span));
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.first_write.get_or_insert(now);
        self.bytes += bytes;
        for (res, scope, span) in rows {
            // Checked by the walk above.
            let Ok(p) = wire::peek_span(span) else {
                continue;
            };
            if self.push(res, scope, &p, span) {
                observe(service_name(self.resource(res)), p.name, p.kind, p.start);
            }
        }
        Ok(())
    }

    /// Adds decoded resource spans (tests and the block round trip).
    pub(crate) fn insert_batch(&mut self, batch: Vec<ResourceSpans>, bytes: u64, now: u64) {
        let payload = ExportTraceServiceRequest {
            resource_spans: batch,
        }
        .encode_to_vec();
        // A message prost just encoded walks.
        let _ = self.insert_payload(&payload, bytes, now, |_, _, _, _| {});
    }

    /// Adds one decoded row (compaction).
    pub(crate) fn insert_row(
        &mut self,
        resource: Option<&Arc<Resource>>,
        scope: Option<&Arc<InstrumentationScope>>,
        span: &Span,
    ) {
        let res = resource.map_or(NONE, |r| self.resources.intern_arc(r));
        let scope = scope.map_or(NONE, |s| self.scopes.intern_arc(s));
        let bytes = span.encode_to_vec();
        if let Ok(p) = wire::peek_span(&bytes) {
            self.push(res, scope, &p, &bytes);
        }
    }

    /// Copies one encoded span in; false when its trace id is invalid.
    fn push(&mut self, resource: u32, scope: u32, p: &SpanPeek<'_>, encoded: &[u8]) -> bool {
        let Ok(trace) = TraceId::from_bytes(p.trace_id) else {
            return false;
        };
        if trace.is_zero() {
            return false;
        }
        let (Ok(len), Some(chunk)) = (u32::try_from(encoded.len()), self.chunk_for(encoded.len()))
        else {
            return false;
        };
        let buf = &mut self.chunks[chunk];
        let offset = buf.len() as u32;
        buf.extend_from_slice(encoded);
        let start = p.start;
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
            start,
            end: p.end,
            chunk: chunk as u32,
            offset,
            len,
        });
        true
    }

    /// The chunk with room for `len` more bytes, opening one if needed.
    fn chunk_for(&mut self, len: usize) -> Option<usize> {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= len);
        if !fits {
            if self.chunks.len() >= u32::MAX as usize || len > u32::MAX as usize {
                return None;
            }
            self.chunks.push(Vec::with_capacity(len.max(CHUNK)));
        }
        Some(self.chunks.len() - 1)
    }

    /// The protobuf encoding of a span.
    pub(crate) fn span_bytes(&self, s: &HeadSpan) -> &[u8] {
        self.chunks
            .get(s.chunk as usize)
            .and_then(|c| c.get(s.offset as usize..s.offset as usize + s.len as usize))
            .unwrap_or_default()
    }

    /// The span's index fields (ids, name, kind, times), read in place.
    pub(crate) fn peek(&self, s: &HeadSpan) -> SpanPeek<'_> {
        wire::peek_span(self.span_bytes(s)).unwrap_or_default()
    }

    /// The whole span, decoded; `None` if its bytes do not decode (checked by CRC and the
    /// walk when written, so only for values a newer writer added).
    pub(crate) fn decode(&self, s: &HeadSpan) -> Option<Span> {
        Span::decode(self.span_bytes(s)).ok()
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
            .filter_map(|s| {
                Some(SpanRecord {
                    resource: self.resource(s.resource).cloned(),
                    scope: self.scope(s.scope).cloned(),
                    span: self.decode(s)?,
                })
            })
            .collect()
    }

    /// Earliest span start of a trace in this head.
    pub(crate) fn trace_start(&self, id: &TraceId) -> Option<u64> {
        self.traces.get(id).and_then(|idxs| {
            idxs.iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .map(|s| s.start)
                .min()
        })
    }

    /// True when span `s` satisfies `query`: service, times and span name are checked on the
    /// index and in place; the span is decoded only for attribute conditions.
    fn matches(&self, query: &ScanRequest, s: &HeadSpan) -> bool {
        if let Some(service) = query.service()
            && service_name(self.resource(s.resource)) != service
        {
            return false;
        }
        if !query.in_bounds(s.start, s.end.saturating_sub(s.start)) {
            return false;
        }
        if let Some(name) = query.span_name()
            && self.peek(s).name != name
        {
            return false;
        }
        if query.predicates.is_empty() {
            return true;
        }
        self.decode(s).is_some_and(|span| {
            query.matches_parts(self.resource(s.resource), self.scope(s.scope), &span)
        })
    }

    /// Traces with a span matching `query`, with the matching trace's earliest start here.
    pub(crate) fn search(&self, query: &ScanRequest, out: &mut HashMap<TraceId, u64>) {
        if self.is_empty() {
            return;
        }
        if query.start_min.is_some_and(|m| self.max_start < m)
            || query.start_max.is_some_and(|m| self.min_start > m)
        {
            return;
        }
        for (id, idxs) in &self.traces {
            if !query.allows_trace(id) {
                continue;
            }
            let hit = idxs
                .iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .any(|s| self.matches(query, s));
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
            (a.trace, a.start).cmp(&(b.trace, b.start))
        });
        order
    }

    /// Service of a span (for catalogs and dependencies).
    pub(crate) fn service_of(&self, s: &HeadSpan) -> &str {
        service_name(self.resource(s.resource))
    }

    /// Parent→child service call counts for spans starting in `[start, end]`.
    pub(crate) fn dependencies(
        &self,
        start: u64,
        end: u64,
        out: &mut HashMap<(String, String), u64>,
    ) {
        for idxs in self.traces.values() {
            let spans: Vec<&HeadSpan> = idxs
                .iter()
                .filter_map(|i| self.spans.get(*i as usize))
                .collect();
            let services: HashMap<SpanId, &str> = spans
                .iter()
                .filter_map(|s| {
                    SpanId::from_bytes(self.peek(s).span_id)
                        .ok()
                        .map(|id| (id, self.service_of(s)))
                })
                .collect();
            for s in spans {
                if s.start < start || s.start > end {
                    continue;
                }
                let Ok(parent) = SpanId::from_bytes(self.peek(s).parent_span_id) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::ScopeSpans;
    use spoor_storage::SpanPredicate;

    fn kv(k: &str, v: &str) -> spoor_model::otlp_common::KeyValue {
        spoor_model::attr::string(k, v)
    }

    fn batch(service: &str, trace: u8, spans: u8) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![trace; 16],
                        span_id: vec![i + 1; 8],
                        name: format!("op-{i}"),
                        start_time_unix_nano: 100 + u64::from(i),
                        end_time_unix_nano: 200 + u64::from(i),
                        attributes: vec![kv("i", &i.to_string())],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn serves_what_it_was_given_from_encoded_spans() {
        let mut head = Head::default();
        let b = batch("svc", 3, 5);
        head.insert_batch(b.clone(), 10, 1);
        let records = head.trace_records(&TraceId([3; 16]));
        let spans: Vec<Span> = records.iter().map(|r| r.span.clone()).collect();
        assert_eq!(spans, b[0].scope_spans[0].spans);
        assert_eq!(records[0].resource, b[0].resource);
        let q = |f: &dyn Fn(&mut ScanRequest)| {
            let mut q = ScanRequest::default();
            f(&mut q);
            let mut out = HashMap::new();
            head.search(&q, &mut out);
            out.len()
        };
        assert_eq!(q(&|q| q.service = Some("svc".into())), 1);
        assert_eq!(q(&|q| q.service = Some("other".into())), 0);
        assert_eq!(q(&|q| q.span_name = Some("op-4".into())), 1);
        assert_eq!(q(&|q| q.span_name = Some("op-9".into())), 0);
        assert_eq!(
            q(&|q| q.predicates = vec![SpanPredicate::text_anywhere("i", "2")]),
            1
        );
        assert_eq!(
            q(&|q| q.predicates = vec![SpanPredicate::text_anywhere("i", "7")]),
            0
        );
        assert_eq!(q(&|q| q.duration_min = Some(101)), 0);
        assert_eq!(q(&|q| q.duration_min = Some(100)), 1);
    }

    #[test]
    fn a_malformed_payload_changes_nothing() {
        let mut head = Head::default();
        let mut payload = ExportTraceServiceRequest {
            resource_spans: batch("svc", 3, 5),
        }
        .encode_to_vec();
        payload.truncate(payload.len() - 3);
        assert!(
            head.insert_payload(&payload, 1, 1, |_, _, _, _| {})
                .is_err()
        );
        assert!(head.is_empty() && head.bytes == 0 && head.first_write.is_none());
    }

    #[test]
    fn holds_far_less_than_decoded_spans() {
        let mut head = Head::default();
        let mut wal = 0u64;
        for t in 1..=200u8 {
            let b = batch("svc", t, 50);
            wal += ExportTraceServiceRequest {
                resource_spans: b.clone(),
            }
            .encoded_len() as u64;
            head.insert_batch(b, 0, 0);
        }
        // Encoded bytes plus the index, within twice the WAL bytes and a chunk.
        assert_eq!(head.len(), 10_000);
        assert!(
            head.memory_bytes() < 2 * wal + (2 << 20),
            "{} vs {wal}",
            head.memory_bytes()
        );
    }
}
