//! Tests of the query layer's shared semantics: duplicate spans, summaries, the Deep Dependency
//! Graph and the search cap, through `QueryService` over the memory store.

use std::sync::Arc;

use crate::TraceQuery;
use spoor_model::otlp_common::InstrumentationScope;
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::SpanKind;
use spoor_model::otlp_trace::{Status, status};
use spoor_model::{ResourceSpans, ScopeSpans, Span, TraceId, attr};
use spoor_storage::{MemoryStore, SpanWriter, TimeRange, Trace};

use crate::ddg::deep_dependency_paths;
use crate::dedup::merge_duplicate_spans;
use crate::{Focal, PathElem, QueryService, TraceSummary, WARNINGS_ATTRIBUTE, jaeger};

const T0: u64 = 1_700_000_000_000_000_000;

fn tid(n: u8) -> Vec<u8> {
    let mut id = vec![0; 16];
    id[15] = n;
    id
}

fn sid(n: u8) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let mut id = vec![0; 8];
    id[7] = n;
    id
}

fn span(trace: u8, id: u8, parent: u8, name: &str, kind: SpanKind) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: sid(id),
        parent_span_id: sid(parent),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: T0 + u64::from(id) * 1000,
        end_time_unix_nano: T0 + u64::from(id) * 1000 + 500,
        ..Default::default()
    }
}

fn rs(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr::string("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope::default()),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn trace(n: u8, resource_spans: Vec<ResourceSpans>) -> Trace {
    Trace {
        id: TraceId::from_bytes(&tid(n)).expect("valid id"),
        resource_spans,
    }
}

fn all_spans(rs: &[ResourceSpans]) -> Vec<&Span> {
    rs.iter()
        .flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.iter()))
        .collect()
}

#[test]
fn identical_duplicates_are_returned_once_without_a_warning() {
    let a = span(1, 1, 0, "root", SpanKind::Server);
    let mut spans = vec![rs("svc", vec![a.clone()]), rs("svc", vec![a.clone()])];
    assert_eq!(merge_duplicate_spans(&mut spans), 1);
    assert_eq!(all_spans(&spans), vec![&a]);
    // Another end is another span; an end a microsecond's rounding away is the same one.
    let mut b = a.clone();
    b.end_time_unix_nano += 2_000;
    let mut spans = vec![rs("svc", vec![a.clone(), b])];
    assert_eq!(merge_duplicate_spans(&mut spans), 0);
    assert_eq!(all_spans(&spans).len(), 2);
}

#[test]
fn microsecond_copies_match_their_nanosecond_original() {
    // OTLP carries 1_700_000_000_000_001_600 .. +1_999_900 ns; a Jaeger exporter rounds the
    // start (…002 µs) and the duration (2_000 µs) separately.
    let mut otlp = span(1, 1, 0, "root", SpanKind::Server);
    otlp.start_time_unix_nano = T0 + 1_600;
    otlp.end_time_unix_nano = T0 + 1_600 + 1_999_900;
    let mut jaeger_copy = otlp.clone();
    jaeger_copy.start_time_unix_nano = T0 + 2_000;
    jaeger_copy.end_time_unix_nano = T0 + 2_000 + 2_000_000;
    let mut spans = vec![rs("svc", vec![jaeger_copy]), rs("svc", vec![otlp.clone()])];
    assert_eq!(merge_duplicate_spans(&mut spans), 1);
    let kept = all_spans(&spans)[0].clone();
    assert_eq!(
        (kept.start_time_unix_nano, kept.end_time_unix_nano),
        (otlp.start_time_unix_nano, otlp.end_time_unix_nano),
        "the nanosecond copy's times win"
    );
}

#[test]
fn differing_duplicates_merge_attributes_and_warn() {
    let mut jaeger_copy = span(1, 1, 0, "root", SpanKind::Unspecified);
    jaeger_copy.attributes = vec![
        attr::string("http.method", "GET"),
        attr::int("http.status_code", 500),
    ];
    let mut otlp_copy = span(1, 1, 0, "root", SpanKind::Server);
    otlp_copy.attributes = vec![
        attr::string("http.method", "GET"),
        attr::string("http.status_code", "500"),
        attr::string("net.peer.name", "db"),
    ];
    otlp_copy.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "boom".into(),
    });
    let child = span(1, 2, 1, "child", SpanKind::Client);
    let mut spans = vec![
        rs("svc", vec![jaeger_copy]),
        rs("svc-otlp", vec![otlp_copy, child]),
    ];
    assert_eq!(merge_duplicate_spans(&mut spans), 1);
    let merged = all_spans(&spans);
    assert_eq!(merged.len(), 2);
    let root = merged[0];
    assert_eq!(root.kind, SpanKind::Server as i32);
    assert_eq!(
        root.status.as_ref().map(|s| s.code),
        Some(status::StatusCode::Error as i32)
    );
    assert_eq!(
        attr::find_str(&root.attributes, "net.peer.name"),
        Some("db")
    );
    // The Jaeger model shows the warning as the span's warnings, not as a tag.
    let jaeger = jaeger::Trace::from_otlp(&spans);
    let warnings = jaeger.spans[0].warnings.clone().expect("a warning");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("received 2 times"), "{warnings:?}");
    assert!(warnings[0].contains("net.peer.name"), "{warnings:?}");
    assert!(warnings[0].contains("http.status_code"), "{warnings:?}");
    assert!(
        jaeger.spans[0]
            .tags
            .iter()
            .all(|t| t.key != WARNINGS_ATTRIBUTE)
    );
    assert!(jaeger.spans[1].warnings.is_none());
}

#[test]
fn summary_counts_errors_orphans_and_services() {
    let mut failed = span(1, 2, 1, "child", SpanKind::Client);
    failed.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: String::new(),
    });
    let t = trace(
        1,
        vec![
            rs("front", vec![span(1, 1, 0, "root", SpanKind::Server)]),
            rs(
                "back",
                vec![failed, span(1, 3, 9, "orphan", SpanKind::Server)],
            ),
        ],
    );
    let s = TraceSummary::of(&t);
    assert_eq!(s.root_service_name, "front");
    assert_eq!(s.root_operation_name, "root");
    assert_eq!(
        (s.span_count, s.error_span_count, s.orphan_span_count),
        (3, 1, 1)
    );
    assert_eq!(s.min_start_time_unix_nano, T0 + 1000);
    assert_eq!(s.max_end_time_unix_nano, T0 + 3500);
    let names: Vec<_> = s
        .services
        .iter()
        .map(|x| (x.name.as_str(), x.span_count, x.error_span_count))
        .collect();
    assert_eq!(names, vec![("back", 2, 1), ("front", 1, 0)]);
}

fn elem(service: &str, operation: &str) -> PathElem {
    PathElem {
        service: service.into(),
        operation: operation.into(),
    }
}

#[test]
fn deep_dependency_paths_go_through_the_focal_pair() {
    // front:GET / → (internal front span) → cart:get → db:query ; front → auth:check
    let t = trace(
        1,
        vec![
            rs(
                "front",
                vec![
                    span(1, 1, 0, "GET /", SpanKind::Server),
                    span(1, 2, 1, "render", SpanKind::Internal),
                ],
            ),
            rs("cart", vec![span(1, 3, 2, "get", SpanKind::Server)]),
            rs("db", vec![span(1, 4, 3, "query", SpanKind::Server)]),
            rs("auth", vec![span(1, 5, 1, "check", SpanKind::Server)]),
        ],
    );
    let other = trace(
        2,
        vec![rs("auth", vec![span(2, 1, 0, "check", SpanKind::Server)])],
    );
    let focal = Focal {
        service: "cart".into(),
        operation: Some("get".into()),
    };
    let paths = deep_dependency_paths(&[t.clone(), other.clone()], &focal);
    assert_eq!(paths.len(), 1);
    assert_eq!(
        paths[0].path,
        vec![
            elem("front", "GET /"),
            elem("cart", "get"),
            elem("db", "query")
        ]
    );
    assert_eq!(paths[0].exemplar_trace_ids, vec![hex(1)]);
    // Any operation of `auth`: both traces, two distinct paths.
    let focal = Focal {
        service: "auth".into(),
        operation: None,
    };
    let paths = deep_dependency_paths(&[t, other], &focal);
    let got: Vec<_> = paths
        .iter()
        .map(|p| (p.path.clone(), p.exemplar_trace_ids.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (vec![elem("auth", "check")], vec![hex(2)]),
            (
                vec![elem("front", "GET /"), elem("auth", "check")],
                vec![hex(1)]
            ),
        ]
    );
}

#[test]
fn deep_dependency_paths_survive_cycles() {
    // 1 → 2 → 1 (a malformed parent loop) plus a self-parented span: no hang, no panic.
    let t = trace(
        1,
        vec![rs(
            "a",
            vec![
                span(1, 1, 2, "x", SpanKind::Server),
                span(1, 2, 1, "y", SpanKind::Server),
                span(1, 3, 3, "z", SpanKind::Server),
            ],
        )],
    );
    let focal = Focal {
        service: "a".into(),
        operation: None,
    };
    let paths = deep_dependency_paths(&[t], &focal);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].path, vec![elem("a", "z")]);
}

fn hex(n: u8) -> String {
    TraceId::from_bytes(&tid(n)).expect("valid").to_hex()
}

#[tokio::test]
async fn the_service_merges_duplicates_and_caps_searches() {
    let store = Arc::new(MemoryStore::new(100_000));
    let root = span(1, 1, 0, "root", SpanKind::Server);
    store
        .write(vec![rs("svc", vec![root.clone()])])
        .await
        .expect("write");
    store
        .write(vec![rs("svc", vec![root])])
        .await
        .expect("write");
    let query = QueryService::new(store.clone());
    let id = TraceId::from_bytes(&tid(1)).expect("valid");
    let t = query.trace(id, None).await.expect("found");
    assert_eq!(all_spans(&t.resource_spans).len(), 1);
    let found = query
        .find_traces(&TraceQuery {
            service: Some("svc".into()),
            limit: 10,
            ..TraceQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(all_spans(&found[0].resource_spans).len(), 1);
    let summaries = query
        .find_trace_summaries(&TraceQuery {
            service: Some("svc".into()),
            ..TraceQuery::default()
        })
        .await
        .expect("summaries");
    assert_eq!(summaries[0].span_count, 1);
    let paths = query
        .deep_dependencies(
            &Focal {
                service: "svc".into(),
                operation: Some("root".into()),
            },
            TimeRange {
                start: T0,
                end: T0 + 1_000_000,
            },
        )
        .await
        .expect("ddg");
    assert_eq!(paths.len(), 1);

    // The cap: 10,001 one-span traces, a limit of a billion returns 10,000.
    let many: Vec<ResourceSpans> = (0..10_001u32)
        .map(|i| {
            let mut s = span(1, 1, 0, "bulk", SpanKind::Server);
            s.trace_id = [vec![1; 12], i.to_be_bytes().to_vec()].concat();
            rs("bulk", vec![s])
        })
        .collect();
    store.write(many).await.expect("write");
    let found = query
        .find_trace_ids(&TraceQuery {
            service: Some("bulk".into()),
            limit: 1_000_000_000,
            ..TraceQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(found.len(), crate::MAX_SEARCH_LIMIT);
}

#[test]
fn restated_resource_and_scope_are_no_difference() {
    // What the Jaeger exporters do: resource attributes and the scope become span tags; the
    // OTLP copy (nanosecond times) is kept, with its resource, and nothing is worth a warning.
    let mut otlp = span(1, 1, 0, "root", SpanKind::Server);
    (otlp.start_time_unix_nano, otlp.end_time_unix_nano) = (T0 + 1_123, T0 + 1_900);
    otlp.attributes = vec![attr::string("http.method", "GET")];
    let mut jaeger_copy = span(1, 1, 0, "root", SpanKind::Server);
    (
        jaeger_copy.start_time_unix_nano,
        jaeger_copy.end_time_unix_nano,
    ) = (T0 + 1_000, T0 + 2_000);
    jaeger_copy.attributes = vec![
        attr::string("http.method", "GET"),
        attr::string("service.name", "svc"),
        attr::string("deployment.environment", "e2e"),
        attr::string("otel.library.name", "lib"),
    ];
    let mut otlp_rs = rs("svc", vec![otlp]);
    if let Some(resource) = otlp_rs.resource.as_mut() {
        resource
            .attributes
            .push(attr::string("deployment.environment", "e2e"));
    }
    otlp_rs.scope_spans[0].scope = Some(InstrumentationScope {
        name: "lib".into(),
        ..Default::default()
    });
    let mut spans = vec![rs("svc", vec![jaeger_copy]), otlp_rs];
    assert_eq!(merge_duplicate_spans(&mut spans), 1);
    assert_eq!(spans.len(), 1, "only the OTLP copy's resource is left");
    let kept = all_spans(&spans)[0];
    assert_eq!(kept.start_time_unix_nano % 1000, 123);
    assert_eq!(kept.attributes, vec![attr::string("http.method", "GET")]);
}
