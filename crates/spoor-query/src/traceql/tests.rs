//! The TraceQL suite (`tests/traceql/suite.json`) over the memory store, through
//! `QueryService::search_plan`, plus parse errors and bounds.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value as Json;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link, SpanKind};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status};
use spoor_storage::{MemoryStore, SpanWriter};

use super::{MAX_DEPTH, parse};
use crate::{PlanSearch, QueryService};

const SUITE: &str = include_str!("../../../../tests/traceql/suite.json");
/// 2026-11-30T00:00:00Z.
const BASE: u64 = 1_796_083_200_000_000_000;

fn suite() -> Json {
    serde_json::from_str(SUITE).expect("suite.json parses")
}

fn pad(label: &str, len: usize) -> Vec<u8> {
    let text = format!("{label:0>len$}");
    (0..len / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex label"))
        .collect()
}

fn any(v: &Json) -> AnyValue {
    let value = match v {
        Json::String(s) => any_value::Value::StringValue(s.clone()),
        Json::Bool(b) => any_value::Value::BoolValue(*b),
        Json::Number(n) if n.is_i64() => any_value::Value::IntValue(n.as_i64().unwrap_or(0)),
        Json::Number(n) => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        other => panic!("unsupported attribute {other}"),
    };
    AnyValue { value: Some(value) }
}

fn attrs(v: Option<&Json>) -> Vec<KeyValue> {
    v.and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(any(v)),
                    ..KeyValue::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn kind(name: &str) -> i32 {
    match name {
        "server" => SpanKind::Server as i32,
        "client" => SpanKind::Client as i32,
        "producer" => SpanKind::Producer as i32,
        "consumer" => SpanKind::Consumer as i32,
        _ => SpanKind::Internal as i32,
    }
}

/// The suite's traces as OTLP, one `ResourceSpans` per span.
pub(crate) fn suite_batch() -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    for trace in suite()["traces"].as_array().expect("traces") {
        let tid = trace["id"].as_str().expect("trace id");
        for s in trace["spans"].as_array().expect("spans") {
            let mut res = attrs(s.get("res"));
            res.insert(
                0,
                KeyValue {
                    key: "service.name".into(),
                    value: Some(any(&s["service"])),
                    ..KeyValue::default()
                },
            );
            let start = BASE + s["start"].as_u64().expect("start") * 1_000_000;
            let status = s.get("status").map(|st| Status {
                code: match st[0].as_str() {
                    Some("error") => StatusCode::Error as i32,
                    Some("ok") => StatusCode::Ok as i32,
                    _ => 0,
                },
                message: st[1].as_str().unwrap_or("").to_string(),
            });
            let span = Span {
                trace_id: pad(tid, 32),
                span_id: pad(s["id"].as_str().expect("id"), 16),
                parent_span_id: s["parent"].as_str().map(|p| pad(p, 16)).unwrap_or_default(),
                name: s["name"].as_str().expect("name").to_string(),
                kind: kind(s["kind"].as_str().expect("kind")),
                start_time_unix_nano: start,
                end_time_unix_nano: start + s["dur"].as_u64().expect("dur") * 1_000_000,
                attributes: attrs(s.get("attrs")),
                events: s["events"]
                    .as_array()
                    .map(|es| {
                        es.iter()
                            .map(|e| Event {
                                time_unix_nano: start,
                                name: e["name"].as_str().unwrap_or("").to_string(),
                                attributes: attrs(e.get("attrs")),
                                ..Event::default()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                links: s["links"]
                    .as_array()
                    .map(|ls| {
                        ls.iter()
                            .map(|l| Link {
                                trace_id: pad(l["trace"].as_str().unwrap_or("0"), 32),
                                span_id: pad(l["span"].as_str().unwrap_or("0"), 16),
                                attributes: attrs(l.get("attrs")),
                                ..Link::default()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                status,
                ..Span::default()
            };
            out.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: res,
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: s["scope"][0].as_str().unwrap_or("").to_string(),
                        version: s["scope"][1].as_str().unwrap_or("").to_string(),
                        ..InstrumentationScope::default()
                    }),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
    }
    out
}

async fn service() -> QueryService {
    let store = Arc::new(MemoryStore::new(1000));
    store.write(suite_batch()).await.expect("write");
    QueryService::new(store)
}

fn search(q: &str) -> PlanSearch {
    PlanSearch {
        query: parse(q).unwrap_or_else(|e| panic!("{q}: {e}")),
        start: None,
        end: None,
        min_trace_duration: None,
        max_trace_duration: None,
        limit: 100,
        spans_per_spanset: 100,
        order: crate::sql::TraceOrder::Newest,
    }
}

#[tokio::test]
async fn the_suite_matches_the_expected_spans() {
    let service = service().await;
    let suite = suite();
    let cases = suite["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "the suite has {} queries", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let q = case["q"].as_str().expect("q");
        let expected: BTreeSet<String> = case["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| format!("{:0>16}", s.as_str().expect("label")))
            .collect();
        let found = service.search_plan(&search(q)).await.expect("search");
        let got: BTreeSet<String> = found
            .iter()
            .flat_map(|t| t.spansets.iter())
            .flat_map(|s| s.spans.iter())
            .map(|s| s.span_id.to_hex())
            .collect();
        let traces: BTreeSet<String> = found.iter().map(|t| t.summary.trace_id.to_hex()).collect();
        let expected_traces: BTreeSet<String> = expected
            .iter()
            .map(|s| format!("{:0>32}", &s[14..15]))
            .collect();
        if got != expected || traces != expected_traces {
            failures.push(format!("{q}: expected {expected:?}, got {got:?}"));
        }
        if let Some(n) = case["spansets"].as_u64() {
            let sets: usize = found.iter().map(|t| t.spansets.len()).sum();
            if sets as u64 != n {
                failures.push(format!("{q}: expected {n} spansets, got {sets}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_queries_say_where_and_what_was_expected() {
    for case in suite()["errors"].as_array().expect("errors") {
        let q = case["q"].as_str().expect("q");
        let want = case["contains"].as_str().expect("contains");
        match parse(q) {
            Ok(_) => panic!("{q} parsed"),
            Err(e) => assert!(e.to_string().contains(want), "{q}: {e}"),
        }
    }
    let e = parse("{ .a = }").expect_err("no value");
    assert_eq!(e.position, 7);
}

#[test]
fn deep_nesting_and_long_queries_are_refused_not_overflowed() {
    let deep = format!("{}{{ }}{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&deep).expect_err("too deep");
    assert!(
        e.message.contains(&format!("deeper than {MAX_DEPTH}")),
        "{e}"
    );
    let deep_cond = format!("{{ {}true{} }}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep_cond).is_err());
    let shallow = format!("{}{{ }}{}", "(".repeat(10), ")".repeat(10));
    assert!(parse(&shallow).is_ok());
    let long = format!("{{ name = \"{}\" }}", "a".repeat(super::MAX_QUERY_LEN));
    assert!(
        parse(&long)
            .expect_err("too long")
            .message
            .contains("longer than")
    );
}

#[tokio::test]
async fn search_reports_spss_matched_by_and_select() {
    let service = service().await;
    let mut s = search("{ } | by(resource.service.name) | count() > 2 | select(span.step.index)");
    s.spans_per_spanset = 2;
    let found = service.search_plan(&s).await.expect("search");
    let worker = found
        .iter()
        .flat_map(|t| t.spansets.iter())
        .find(|s| s.matched == 4)
        .expect("worker spanset");
    assert_eq!(worker.spans.len(), 2);
    assert_eq!(worker.by[0].0, "resource.service.name");
    assert_eq!(worker.by[0].1.to_text(), "worker");
    let selected: Vec<String> = worker.spans[1]
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={}", v.to_text()))
        .collect();
    assert_eq!(selected, ["span.step.index=1"]);
    // Trace duration bounds and the limit.
    let mut s = search("{ }");
    s.min_trace_duration = Some(1_000_000_000);
    assert_eq!(service.search_plan(&s).await.expect("search").len(), 2);
    s.limit = 1;
    assert_eq!(service.search_plan(&s).await.expect("search").len(), 1);
}

#[test]
fn a_single_filter_is_pushed_down() {
    let q =
        parse("{ resource.service.name = \"a\" && name = \"b\" && duration > 1ms } | count() > 1")
            .expect("parses");
    let p = q.pushdown();
    assert_eq!(p.service.as_deref(), Some("a"));
    assert_eq!(p.span_name.as_deref(), Some("b"));
    assert_eq!(p.duration_min, Some(1_000_001));
    let or = parse("{ .a = 1 } || { name = \"b\" }").expect("parses");
    assert_eq!(or.pushdown(), crate::plan::Pushdown::default());
}

async fn metrics(service: &QueryService, q: &str, step_ms: u64) -> Vec<(String, Vec<(u64, f64)>)> {
    let range = crate::MetricsRange {
        query: super::parse_metrics(q).unwrap_or_else(|e| panic!("{q}: {e}")),
        start: BASE,
        end: BASE + 10_000_000_000,
        step: step_ms * 1_000_000,
    };
    service
        .metrics_range(&range)
        .await
        .expect("metrics")
        .into_iter()
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.to_text()))
                .collect::<Vec<_>>()
                .join(",");
            let samples = s
                .samples
                .iter()
                .map(|(t, v)| ((t - BASE / 1_000_000) / step_ms, *v))
                .collect();
            (labels, samples)
        })
        .collect()
}

#[tokio::test]
async fn metrics_queries_count_rate_and_quantiles_by_series() {
    let service = service().await;
    let by_service = metrics(
        &service,
        "{ } | count_over_time() by (resource.service.name)",
        10_000,
    )
    .await;
    let counts: Vec<(String, f64)> = by_service
        .iter()
        .map(|(l, s)| (l.clone(), s[0].1))
        .collect();
    let want = [
        ("resource.service.name=checkout", 3.0),
        ("resource.service.name=frontend", 5.0),
        ("resource.service.name=mobile", 1.0),
        ("resource.service.name=product", 2.0),
        ("resource.service.name=worker", 4.0),
    ];
    assert_eq!(
        counts,
        want.iter()
            .map(|(l, v)| (l.to_string(), *v))
            .collect::<Vec<_>>()
    );
    // Server spans all start in the first second: six of them, a rate of 6/s at step 0.
    assert_eq!(
        metrics(&service, "{ kind = server } | rate()", 1_000).await,
        [(String::new(), vec![(0, 6.0)])]
    );
    // Steps: the worker's third step starts at 1.3 s.
    assert_eq!(
        metrics(&service, "{ name = \"step\" } | count_over_time()", 1_000).await,
        [(String::new(), vec![(0, 2.0), (1, 1.0)])]
    );
    let q = metrics(
        &service,
        "{ name = \"step\" } | quantile_over_time(duration, .5, 1)",
        10_000,
    )
    .await;
    assert_eq!(
        q,
        [
            ("p=0.5".to_string(), vec![(0, 0.5)]),
            ("p=1".to_string(), vec![(0, 0.6)])
        ]
    );
    let avg = metrics(
        &service,
        "{ kind = client } | avg_over_time(span.retry.count)",
        10_000,
    )
    .await;
    assert_eq!(avg, [(String::new(), vec![(0, 3.0)])]);
    for bad in [
        "{ } | histogram_over_time()",
        "{ } | rate(",
        "{ } | count()",
        "{ } | quantile_over_time(duration, 2)",
        "{ } | quantile_over_time(duration)",
        "{ } | rate() by (nonsense)",
        "{ } | rate() extra",
    ] {
        assert!(super::parse_metrics(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn search_reads_more_candidates_until_enough_match() {
    // 300 traces, newest first; only the oldest has the attribute the query's structural part
    // needs, so nothing is pushed down and the first candidate reads find nothing.
    let store = Arc::new(MemoryStore::new(1000));
    let mut batch = Vec::new();
    for n in 0..300u32 {
        let mut span = Span {
            trace_id: [[0u8; 12].as_slice(), &(n + 1).to_be_bytes()].concat(),
            span_id: (u64::from(n) + 1).to_be_bytes().to_vec(),
            name: "op".into(),
            start_time_unix_nano: BASE + u64::from(n) * 1_000_000,
            end_time_unix_nano: BASE + u64::from(n) * 1_000_000 + 1,
            ..Span::default()
        };
        if n == 0 {
            span.attributes = attrs(Some(&serde_json::json!({ "needle": 1 })));
        }
        batch.push(ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        });
    }
    store.write(batch).await.expect("write");
    let service = QueryService::new(store);
    let mut s = search("{ span.needle = 1 } || { span.needle = 2 }");
    s.limit = 1;
    let found = service.search_plan(&s).await.expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].summary.trace_id.to_hex(), format!("{:032x}", 1));
}

#[tokio::test]
async fn histogram_over_time_counts_spans_per_power_of_two_bucket() {
    let service = service().await;
    // Steps of 500, 500 and 600 ms: 5e8 ns rounds up to 2^29 ns, 6e8 ns to 2^30 ns.
    let h = metrics(
        &service,
        "{ name = \"step\" } | histogram_over_time(duration)",
        10_000,
    )
    .await;
    assert_eq!(
        h,
        [
            ("__bucket=0.536870912".to_string(), vec![(0, 2.0)]),
            ("__bucket=1.073741824".to_string(), vec![(0, 1.0)]),
        ]
    );
    // `by()` labels come first, the bucket last; steps of 1 s split the third step off.
    let h = metrics(
        &service,
        "{ name = \"step\" } | histogram_over_time(duration) by (status)",
        1_000,
    )
    .await;
    assert_eq!(
        h,
        [
            (
                "status=error,__bucket=0.536870912".to_string(),
                vec![(0, 1.0)]
            ),
            (
                "status=unset,__bucket=0.536870912".to_string(),
                vec![(0, 1.0)]
            ),
            (
                "status=unset,__bucket=1.073741824".to_string(),
                vec![(1, 1.0)]
            ),
        ]
    );
    // Integer attributes bucket by their value: 200 -> 256, 404 and 500 -> 512; spans
    // without the attribute are not counted.
    let h = metrics(
        &service,
        "{ } | histogram_over_time(span.http.status_code)",
        10_000,
    )
    .await;
    assert_eq!(
        h,
        [
            ("__bucket=256".to_string(), vec![(0, 3.0)]),
            ("__bucket=512".to_string(), vec![(0, 2.0)]),
        ]
    );
}
