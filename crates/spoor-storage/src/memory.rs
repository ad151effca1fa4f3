use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use parking_lot::RwLock;
use spoor_model::{ResourceSpans, SpanId, SpanRecord, TraceId, span_kind_name};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::gauge::Gauge;

use crate::{
    DependencyLink, Operation, OperationQuery, ScanRequest, SpanReader, SpanWriter, StorageError,
    TimeRange, Trace,
};

/// A bounded in-memory store: keeps at most `max_traces` traces, evicting the trace that arrived
/// first. Nothing survives a restart. Spans with an invalid (all-zero or wrongly sized) trace id
/// are skipped; receivers reject those before they get here.
pub struct MemoryStore {
    max_traces: usize,
    /// Most bytes held (the spans' encoded size with their resource and scope); the oldest
    /// traces are evicted beyond it, as beyond `max_traces`.
    max_bytes: Option<u64>,
    inner: RwLock<Inner>,
    traces_gauge: Gauge,
    spans_gauge: Gauge,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<TraceId, StoredTrace>,
    arrival: VecDeque<TraceId>,
    catalog: BTreeMap<String, BTreeSet<Operation>>,
    span_count: usize,
    bytes: u64,
}

struct StoredTrace {
    records: Vec<SpanRecord>,
    start: u64,
    bytes: u64,
}

/// What one record counts for against `max_bytes`: its span's, resource's and scope's encoded
/// sizes.
fn record_bytes(rec: &SpanRecord) -> u64 {
    use prost::Message;
    let resource = rec.resource.as_ref().map_or(0, Message::encoded_len);
    let scope = rec.scope.as_ref().map_or(0, Message::encoded_len);
    (rec.span.encoded_len() + resource + scope) as u64
}

impl MemoryStore {
    pub fn new(max_traces: usize) -> Self {
        Self {
            max_traces: max_traces.max(1),
            max_bytes: None,
            inner: RwLock::new(Inner::default()),
            traces_gauge: Gauge::default(),
            spans_gauge: Gauge::default(),
        }
    }

    /// The store, holding at most `max_bytes` of spans (see [`Self::stored_bytes`]) besides
    /// its trace limit: the oldest traces are evicted beyond either.
    pub fn with_max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The bytes held: the encoded size of every span with its resource and scope.
    pub fn stored_bytes(&self) -> u64 {
        self.inner.read().bytes
    }

    /// Registers `spoor_store_traces` and `spoor_store_spans`.
    pub fn register_metrics(&self, telemetry: &Telemetry) {
        telemetry.register(
            "store_traces",
            "Traces held by the store",
            self.traces_gauge.clone(),
        );
        telemetry.register(
            "store_spans",
            "Spans held by the store",
            self.spans_gauge.clone(),
        );
    }

    fn to_trace(id: TraceId, stored: &StoredTrace) -> Trace {
        Trace {
            id,
            resource_spans: SpanRecord::group(stored.records.clone()),
        }
    }

    fn matching_ids(&self, query: &ScanRequest) -> Vec<TraceId> {
        let inner = self.inner.read();
        let mut hits: Vec<(u64, TraceId)> = inner
            .traces
            .iter()
            .filter(|(id, t)| query.allows_trace(id) && t.records.iter().any(|r| query.matches(r)))
            .map(|(id, t)| (t.start, *id))
            .collect();
        hits.sort_by(|a, b| b.cmp(a));
        hits.truncate(query.effective_limit());
        hits.into_iter().map(|(_, id)| id).collect()
    }
}

#[async_trait::async_trait]
impl SpanWriter for MemoryStore {
    async fn write(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
        let records = SpanRecord::flatten(batch);
        let mut inner = self.inner.write();
        for rec in records {
            let Ok(id) = TraceId::from_bytes(&rec.span.trace_id) else {
                continue;
            };
            inner
                .catalog
                .entry(rec.service().to_string())
                .or_default()
                .insert(Operation {
                    name: rec.span.name.clone(),
                    span_kind: span_kind_name(rec.span.kind).to_string(),
                });
            let start = rec.span.start_time_unix_nano;
            let bytes = record_bytes(&rec);
            inner.span_count += 1;
            inner.bytes += bytes;
            match inner.traces.get_mut(&id) {
                Some(t) => {
                    t.start = t.start.min(start);
                    t.bytes += bytes;
                    t.records.push(rec);
                }
                None => {
                    inner.traces.insert(
                        id,
                        StoredTrace {
                            records: vec![rec],
                            start,
                            bytes,
                        },
                    );
                    inner.arrival.push_back(id);
                }
            }
        }
        while inner.traces.len() > self.max_traces
            || self.max_bytes.is_some_and(|max| inner.bytes > max)
        {
            let Some(old) = inner.arrival.pop_front() else {
                break;
            };
            if let Some(t) = inner.traces.remove(&old) {
                inner.span_count -= t.records.len();
                inner.bytes -= t.bytes;
            }
        }
        self.traces_gauge.set(inner.traces.len() as i64);
        self.spans_gauge.set(inner.span_count as i64);
        Ok(())
    }
}

#[async_trait::async_trait]
impl SpanReader for MemoryStore {
    async fn get_trace(
        &self,
        id: TraceId,
        _window: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError> {
        let inner = self.inner.read();
        Ok(inner.traces.get(&id).map(|t| Self::to_trace(id, t)))
    }

    async fn get_services(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.inner.read().catalog.keys().cloned().collect())
    }

    async fn get_operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        let inner = self.inner.read();
        let kind = query.span_kind.as_deref().unwrap_or("");
        Ok(inner
            .catalog
            .get(&query.service)
            .map(|ops| {
                ops.iter()
                    .filter(|op| kind.is_empty() || op.span_kind == kind)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn scan(&self, query: &ScanRequest) -> Result<Vec<Trace>, StorageError> {
        let ids = self.matching_ids(query);
        let inner = self.inner.read();
        Ok(ids
            .into_iter()
            .filter_map(|id| inner.traces.get(&id).map(|t| Self::to_trace(id, t)))
            .collect())
    }

    async fn scan_ids(&self, query: &ScanRequest) -> Result<Vec<TraceId>, StorageError> {
        Ok(self.matching_ids(query))
    }

    async fn get_dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        let start = end_unix_nano.saturating_sub(lookback_nanos);
        let inner = self.inner.read();
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for t in inner.traces.values() {
            let services: HashMap<SpanId, &str> = t
                .records
                .iter()
                .filter_map(|r| {
                    SpanId::from_bytes(&r.span.span_id)
                        .ok()
                        .map(|id| (id, r.service()))
                })
                .collect();
            for r in &t.records {
                let s = r.span.start_time_unix_nano;
                if s < start || s > end_unix_nano {
                    continue;
                }
                let Ok(parent) = SpanId::from_bytes(&r.span.parent_span_id) else {
                    continue;
                };
                if let Some(parent_service) = services.get(&parent)
                    && *parent_service != r.service()
                {
                    *counts
                        .entry((parent_service.to_string(), r.service().to_string()))
                        .or_default() += 1;
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent,
                child,
                call_count,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use spoor_model::{ScopeSpans, Span, attr, otlp_resource::Resource};

    use super::*;

    fn batch(service: &str, trace: u8, span: u8, parent: u8, start: u64) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr::string("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16],
                    span_id: vec![span; 8],
                    parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
                    name: format!("op{span}"),
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 10,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: String::new(),
        }]
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn evicts_the_oldest_traces_beyond_its_bytes() {
        block_on(async {
            let one = record_bytes(&SpanRecord::flatten(batch("a", 1, 1, 0, 100))[0]);
            // Room for three one-span traces, not four.
            let store = MemoryStore::new(100).with_max_bytes(Some(3 * one + one / 2));
            for t in 1..=5 {
                store.write(batch("a", t, t, 0, 100)).await.expect("write");
            }
            assert_eq!(store.stored_bytes(), 3 * one);
            for (t, kept) in [(1, false), (2, false), (3, true), (4, true), (5, true)] {
                let got = store.get_trace(TraceId([t; 16]), None).await.expect("get");
                assert_eq!(got.is_some(), kept, "trace {t}");
            }
            // Without a byte limit, the trace limit alone applies.
            let store = MemoryStore::new(100);
            for t in 1..=5 {
                store.write(batch("a", t, t, 0, 100)).await.expect("write");
            }
            assert_eq!(store.stored_bytes(), 5 * one);
        });
    }

    #[test]
    fn evicts_the_oldest_trace_beyond_the_bound() {
        block_on(async {
            let store = MemoryStore::new(2);
            for t in 1..=3 {
                store.write(batch("a", t, t, 0, 100)).await.expect("write");
            }
            assert!(
                store
                    .get_trace(TraceId([1; 16]), None)
                    .await
                    .expect("get")
                    .is_none()
            );
            assert!(
                store
                    .get_trace(TraceId([3; 16]), None)
                    .await
                    .expect("get")
                    .is_some()
            );
            // A late span of a kept trace does not evict it.
            store.write(batch("a", 2, 9, 2, 100)).await.expect("write");
            let t2 = store.get_trace(TraceId([2; 16]), None).await.expect("get");
            assert_eq!(
                t2.map(|t| spoor_model::span_count(&t.resource_spans)),
                Some(2)
            );
            assert_eq!(store.get_services().await.expect("services"), ["a"]);
        });
    }

    #[test]
    fn counts_cross_service_calls_in_the_window() {
        block_on(async {
            let store = MemoryStore::new(10);
            store
                .write(batch("front", 1, 1, 0, 100))
                .await
                .expect("write");
            store
                .write(batch("back", 1, 2, 1, 110))
                .await
                .expect("write");
            store
                .write(batch("back", 1, 3, 2, 120))
                .await
                .expect("write");
            store
                .write(batch("back", 2, 5, 0, 5_000))
                .await
                .expect("write");
            let links = store.get_dependencies(1_000, 1_000).await.expect("deps");
            assert_eq!(
                links,
                [DependencyLink {
                    parent: "front".into(),
                    child: "back".into(),
                    call_count: 1
                }]
            );
            assert!(
                store
                    .get_dependencies(90, 10)
                    .await
                    .expect("deps")
                    .is_empty()
            );
        });
    }
}
