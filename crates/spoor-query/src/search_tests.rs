//! A TraceQL search and the equivalent Jaeger form run the same scan: the same request, the
//! same limit, one read; a plan the scan cannot express whole reads more, and the plan still
//! decides exactly.

use std::sync::{Arc, Mutex};

use spoor_model::otlp_common::KeyValue;
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, ScopeSpans, Span, TraceId, attr};
use spoor_storage::{
    AttrScope, DependencyLink, MemoryStore, Operation, OperationQuery, ScanRequest, SpanPredicate,
    SpanReader, SpanWriter, StorageError, TimeRange, Trace, ValueMatch,
};

use crate::plan::TraceQuery;
use crate::sql::TraceOrder;
use crate::{PlanSearch, QueryService, traceql};

/// A reader that records every scan it is asked for.
struct Recording {
    inner: MemoryStore,
    scans: Mutex<Vec<ScanRequest>>,
}

impl Recording {
    fn take(&self) -> Vec<ScanRequest> {
        std::mem::take(&mut *self.scans.lock().expect("lock"))
    }
}

#[async_trait::async_trait]
impl SpanReader for Recording {
    async fn get_trace(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError> {
        self.inner.get_trace(id, window).await
    }
    async fn get_services(&self) -> Result<Vec<String>, StorageError> {
        self.inner.get_services().await
    }
    async fn get_operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        self.inner.get_operations(query).await
    }
    async fn scan(&self, request: &ScanRequest) -> Result<Vec<Trace>, StorageError> {
        self.scans.lock().expect("lock").push(request.clone());
        self.inner.scan(request).await
    }
    async fn scan_ids(&self, request: &ScanRequest) -> Result<Vec<TraceId>, StorageError> {
        self.scans.lock().expect("lock").push(request.clone());
        self.inner.scan_ids(request).await
    }
    async fn get_dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        self.inner
            .get_dependencies(end_unix_nano, lookback_nanos)
            .await
    }
}

const BASE: u64 = 1_700_000_000_000_000_000;

/// 100 traces of one span, the n-th starting n ms after `BASE`, lasting n ms, in `svc`, named
/// `op`, with the span attribute `n` = `attribute(n)`.
async fn store(attribute: fn(u32) -> KeyValue) -> (Arc<Recording>, QueryService) {
    let rec = Arc::new(Recording {
        inner: MemoryStore::new(1000),
        scans: Mutex::new(Vec::new()),
    });
    let batch = (0..100u32)
        .map(|n| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr::string("service.name", "svc")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: [[0u8; 12].as_slice(), &(n + 1).to_be_bytes()].concat(),
                    span_id: (u64::from(n) + 1).to_be_bytes().to_vec(),
                    name: "op".into(),
                    start_time_unix_nano: BASE + u64::from(n) * 1_000_000,
                    end_time_unix_nano: BASE + u64::from(n) * 2_000_000,
                    attributes: vec![attribute(n)],
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        })
        .collect();
    rec.inner.write(batch).await.expect("write");
    let service = QueryService::new(rec.clone());
    (rec, service)
}

fn search(q: &str, limit: usize) -> PlanSearch {
    PlanSearch {
        query: traceql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}")),
        start: Some(BASE),
        end: Some(BASE + 1_000_000_000),
        min_trace_duration: None,
        max_trace_duration: None,
        limit,
        spans_per_spanset: 1,
        order: TraceOrder::Newest,
    }
}

fn ids(n: impl IntoIterator<Item = u32>) -> Vec<TraceId> {
    n.into_iter()
        .map(|n| {
            TraceId::from_bytes(&[[0u8; 12].as_slice(), &(n + 1).to_be_bytes()].concat())
                .expect("id")
        })
        .collect()
}

#[tokio::test]
async fn traceql_runs_the_jaeger_forms_scan() {
    let (rec, service) = store(|n| attr::int("n", i64::from(n))).await;
    // The bench's kinds: each TraceQL search against the same Jaeger form.
    let cases: [(&str, TraceQuery); 3] = [
        (
            r#"{ resource.service.name = "svc" }"#,
            TraceQuery {
                service: Some("svc".into()),
                ..TraceQuery::default()
            },
        ),
        (
            r#"{ resource.service.name = "svc" && name = "op" }"#,
            TraceQuery {
                service: Some("svc".into()),
                operation: Some("op".into()),
                ..TraceQuery::default()
            },
        ),
        (
            r#"{ resource.service.name = "svc" && duration >= 50ms }"#,
            TraceQuery {
                service: Some("svc".into()),
                duration_min: Some(50_000_000),
                ..TraceQuery::default()
            },
        ),
    ];
    for (q, mut form) in cases {
        form.start_min = Some(BASE);
        form.start_max = Some(BASE + 1_000_000_000);
        form.limit = 7;
        let found = service.search_plan(&search(q, 7)).await.expect("search");
        let plan_scans = rec.take();
        let traces = service.find_traces(&form).await.expect("jaeger");
        let form_scans = rec.take();
        assert_eq!(plan_scans.len(), 1, "{q}: one scan, {plan_scans:?}");
        assert_eq!(plan_scans, form_scans, "{q}: the same scan");
        assert_eq!(plan_scans[0].limit, 7, "{q}");
        let plan_ids: Vec<TraceId> = found.iter().map(|t| t.summary.trace_id).collect();
        let form_ids: Vec<TraceId> = traces.iter().map(|t| t.id).collect();
        assert_eq!(plan_ids, form_ids, "{q}");
        assert_eq!(plan_ids, ids((93..100).rev()), "{q}: the newest 7");
    }
    // The bench's attribute kinds: TraceQL's `.attr` reads span and resource, Jaeger's tag every
    // scope, so the requests differ only in the scopes; still one scan of the limit.
    let found = service
        .search_plan(&search(
            r#"{ resource.service.name = "svc" && .n = 42 }"#,
            7,
        ))
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    let scans = rec.take();
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0].limit, 7);
    assert_eq!(
        scans[0].predicates,
        [SpanPredicate::Attribute {
            scopes: vec![AttrScope::Span, AttrScope::Resource],
            key: "n".into(),
            value: ValueMatch::Range {
                min: Some(42.0),
                max: Some(42.0)
            },
        }]
    );
}

#[tokio::test]
async fn conditions_the_scan_expresses_are_pushed_and_the_rest_reads_more() {
    let (rec, service) = store(|n| attr::int("n", i64::from(n))).await;
    // `||` of attribute tests is one any-of predicate, `duration =` both bounds: complete.
    let found = service
        .search_plan(&search(
            "{ (span.n = 3 || span.n = 5 || span.n = 90) && duration = 90ms }",
            7,
        ))
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|t| t.summary.trace_id).collect::<Vec<_>>(),
        ids([90])
    );
    let scans = rec.take();
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(
        (scans[0].duration_min, scans[0].duration_max, scans[0].limit),
        (Some(90_000_000), Some(90_000_000), 7)
    );
    assert!(
        matches!(&scans[0].predicates[..], [SpanPredicate::AnyOf(any)] if any.len() == 3),
        "{scans:?}"
    );
    // `!=` stays with the plan: more candidates than the limit are read, the answer is exact.
    let found = service
        .search_plan(&search("{ span.n != 99 && span.n >= 90 }", 3))
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|t| t.summary.trace_id).collect::<Vec<_>>(),
        ids([98, 97, 96])
    );
    let scans = rec.take();
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].limit, 64, "{scans:?}");
    // A pipeline that drops spansets is not complete either.
    let plan = traceql::parse("{ span.n >= 90 } | count() > 1")
        .expect("parses")
        .scan_plan();
    assert!(!plan.complete);
    let plan = traceql::parse("{ span.n >= 90 } | select(name)")
        .expect("parses")
        .scan_plan();
    assert!(plan.complete);
}

#[tokio::test]
async fn a_complete_pushdown_that_over_selects_reads_on_until_the_plan_is_satisfied() {
    // The newest 80 traces have the int 1, the oldest 20 the string "1": the scan's text test
    // selects both, the plan's typed comparison only the strings.
    let (rec, service) = store(|n| {
        if n < 20 {
            attr::string("n", "1")
        } else {
            attr::int("n", 1)
        }
    })
    .await;
    let found = service
        .search_plan(&search(r#"{ span.n = "1" }"#, 5))
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|t| t.summary.trace_id).collect::<Vec<_>>(),
        ids((15..20).rev())
    );
    let limits: Vec<usize> = rec.take().iter().map(|s| s.limit).collect();
    assert_eq!(limits, [5, 20, 80, 320]);
}
