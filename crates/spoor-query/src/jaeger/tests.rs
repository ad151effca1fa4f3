use std::path::PathBuf;

use opentelemetry_proto::tonic::trace::v1::TracesData;
use spoor_model::otlp_trace::{Status, span};
use spoor_model::{ResourceSpans, ScopeSpans, Span as OtlpSpan, attr};

use super::*;

fn conformance_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/jaeger");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: conformance folder {} is absent", dir.display());
        None
    }
}

#[test]
fn matches_jaegers_otlp_translation_fixture() {
    let Some(dir) = conformance_dir() else { return };
    let input = std::fs::read_to_string(dir.join("otlp2jaeger/otlp2jaeger-in.json"))
        .expect("read input fixture");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("otlp2jaeger/otlp2jaeger-out.json"))
            .expect("read output fixture"),
    )
    .expect("parse output fixture");
    let data: TracesData = serde_json::from_str(&input).expect("parse OTLP JSON");
    let trace = Trace::from_otlp(&data.resource_spans);
    let actual = serde_json::to_value(&trace).expect("serialise");
    assert_eq!(actual, expected["data"][0]);
}

fn span_with(f: impl FnOnce(&mut OtlpSpan)) -> Vec<ResourceSpans> {
    let mut s = OtlpSpan {
        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        name: "op".into(),
        start_time_unix_nano: 1_485_467_191_639_875_000,
        end_time_unix_nano: 1_485_467_191_639_880_000,
        ..Default::default()
    };
    f(&mut s);
    vec![ResourceSpans {
        resource: Some(spoor_model::otlp_resource::Resource {
            attributes: vec![
                attr::string("service.name", "service-x"),
                attr::string("host.name", "h1"),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![s],
            ..Default::default()
        }],
        schema_url: String::new(),
    }]
}

#[test]
fn types_tags_like_the_jaeger_ui_model() {
    let trace = Trace::from_otlp(&span_with(|s| {
        s.attributes = vec![
            attr::int("peer.ipv4", 23456),
            attr::double("temperature", 72.5),
            attr::int("javascript_limit", 9_223_372_036_854_775_222),
            attr::bytes("blob", vec![0, 0, 48, 57]),
            attr::bool("flag", true),
        ];
    }));
    let json = serde_json::to_value(&trace).expect("serialise");
    assert_eq!(json["traceID"], "0000000000000001");
    let tags = &json["spans"][0]["tags"];
    assert_eq!(
        tags[0],
        serde_json::json!({"key":"peer.ipv4","type":"int64","value":23456})
    );
    assert_eq!(tags[1]["value"], 72.5);
    assert_eq!(tags[2]["value"], "9223372036854775222");
    assert_eq!(
        tags[3],
        serde_json::json!({"key":"blob","type":"binary","value":"AAAwOQ=="})
    );
    assert_eq!(tags[4]["type"], "bool");
    assert_eq!(json["spans"][0]["duration"], 5);
    assert_eq!(json["processes"]["p1"]["serviceName"], "service-x");
    assert_eq!(json["processes"]["p1"]["tags"][0]["key"], "host.name");
}

#[test]
fn maps_status_kind_events_links_and_dropped_counts() {
    let trace = Trace::from_otlp(&span_with(|s| {
        s.kind = span::SpanKind::Client as i32;
        s.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, 9];
        s.status = Some(Status {
            code: 2,
            message: "boom".into(),
        });
        s.dropped_events_count = 3;
        s.events = vec![span::Event {
            name: "exception".into(),
            time_unix_nano: 1_485_467_191_639_876_000,
            attributes: vec![attr::string("exception.message", "bad")],
            dropped_attributes_count: 0,
        }];
        s.links = vec![span::Link {
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            ..Default::default()
        }];
    }));
    let span = &trace.spans[0];
    let keys: Vec<&str> = span.tags.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "span.kind",
            "otel.status_code",
            "error",
            "otel.status_description",
            "otel.dropped_events_count"
        ]
    );
    assert_eq!(span.tags[2].value, TagValue::Bool(true));
    assert_eq!(span.references[0].ref_type, RefType::ChildOf);
    assert_eq!(span.references[0].span_id, "0000000000000009");
    assert_eq!(span.references[1].ref_type, RefType::FollowsFrom);
    assert_eq!(span.references[1].trace_id, "07".repeat(16));
    assert_eq!(span.logs[0].timestamp, 1_485_467_191_639_876);
    assert_eq!(span.logs[0].fields[0].key, "event");
    assert_eq!(span.logs[0].fields[1].key, "exception.message");
}

#[test]
fn shares_processes_between_identical_resources() {
    let mut batch = span_with(|_| {});
    batch.extend(span_with(|s| s.span_id = vec![0, 0, 0, 0, 0, 0, 0, 3]));
    let mut other = span_with(|s| s.span_id = vec![0, 0, 0, 0, 0, 0, 0, 4]);
    if let Some(r) = other[0].resource.as_mut() {
        r.attributes[0] = attr::string("service.name", "service-y");
    }
    batch.extend(other);
    let trace = Trace::from_otlp(&batch);
    assert_eq!(trace.processes.len(), 2);
    let ids: Vec<&str> = trace.spans.iter().map(|s| s.process_id.as_str()).collect();
    assert_eq!(ids, ["p1", "p1", "p2"]);
}

#[test]
fn a_link_to_the_parent_types_the_one_parent_reference() {
    use spoor_model::otlp_trace::span::Link;
    let parent = vec![2u8; 8];
    let mut span = OtlpSpan {
        trace_id: vec![1; 16],
        span_id: vec![3; 8],
        parent_span_id: parent.clone(),
        name: "op".into(),
        ..Default::default()
    };
    span.links = vec![
        Link {
            trace_id: vec![1; 16],
            span_id: parent,
            ..Default::default()
        },
        Link {
            trace_id: vec![9; 16],
            span_id: vec![9; 8],
            attributes: vec![spoor_model::attr::string(
                "opentracing.ref_type",
                "child_of",
            )],
            ..Default::default()
        },
    ];
    let trace = Trace::from_otlp(&[ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let refs: Vec<_> = trace.spans[0]
        .references
        .iter()
        .map(|r| (r.ref_type, r.span_id.as_str()))
        .collect();
    assert_eq!(
        refs,
        vec![
            (RefType::FollowsFrom, "0202020202020202"),
            (RefType::ChildOf, "0909090909090909"),
        ]
    );
}

/// A trace of `n` spans over three resources (two of them identical, one without spans) and
/// two scopes, with links, events, a status and a query warning.
fn varied_trace(n: u8, trace_byte: u8) -> Vec<ResourceSpans> {
    let resource = |service: &str| {
        Some(spoor_model::otlp_resource::Resource {
            attributes: vec![attr::string("service.name", service), attr::int("pid", 7)],
            ..Default::default()
        })
    };
    let span = |k: u8| OtlpSpan {
        trace_id: vec![trace_byte; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 1, k],
        parent_span_id: if k == 0 {
            vec![]
        } else {
            vec![0, 0, 0, 0, 0, 0, 1, k / 2]
        },
        name: format!("op \"{k}\"\n"),
        kind: i32::from(k % 4),
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(k) * 1000,
        end_time_unix_nano: 1_700_000_000_000_500_000 + u64::from(k) * 1000,
        attributes: vec![
            attr::string("k", "v\u{e9}"),
            attr::double("d", f64::from(k) / 3.0),
            attr::bool("b", k.is_multiple_of(2)),
        ],
        events: vec![spoor_model::otlp_trace::span::Event {
            time_unix_nano: 1_700_000_000_000_100_000,
            name: "ev".into(),
            attributes: vec![attr::int("i", i64::from(k))],
            ..Default::default()
        }],
        links: vec![span::Link {
            trace_id: vec![9; 16],
            span_id: vec![8; 8],
            ..Default::default()
        }],
        status: k.is_multiple_of(3).then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    };
    let scope = |name: &str, spans: Vec<OtlpSpan>| ScopeSpans {
        scope: Some(spoor_model::otlp_common::InstrumentationScope {
            name: name.into(),
            ..Default::default()
        }),
        spans,
        ..Default::default()
    };
    let half = n / 2;
    vec![
        ResourceSpans {
            resource: resource("a"),
            scope_spans: vec![
                scope("s1", (0..half).map(span).collect()),
                scope("s2", vec![]),
            ],
            schema_url: String::new(),
        },
        ResourceSpans {
            resource: resource("empty"),
            scope_spans: vec![],
            schema_url: String::new(),
        },
        ResourceSpans {
            resource: resource("a"),
            scope_spans: vec![scope("s3", (half..n).map(span).collect())],
            schema_url: String::new(),
        },
    ]
}

fn model_json(traces: &[Vec<ResourceSpans>]) -> Vec<u8> {
    let models: Vec<Trace> = traces.iter().map(|t| Trace::from_otlp(t)).collect();
    let mut bytes = serde_json::to_vec(&models).expect("serialise");
    // Without the enclosing brackets, as the chunks are.
    bytes.pop();
    bytes.remove(0);
    bytes
}

#[test]
fn chunked_json_is_byte_for_byte_the_models_json() {
    let mut with_warning = varied_trace(9, 3);
    with_warning[0].scope_spans[0].spans[1]
        .attributes
        .push(spoor_model::otlp_common::KeyValue {
            key: crate::WARNINGS_ATTRIBUTE.into(),
            value: Some(spoor_model::otlp_common::AnyValue {
                value: Some(spoor_model::otlp_common::any_value::Value::StringValue(
                    "copies differ".into(),
                )),
            }),
            ..Default::default()
        });
    let traces = vec![
        varied_trace(40, 1),
        vec![],
        with_warning,
        varied_trace(1, 2),
    ];
    let expected = model_json(&traces);
    for chunk_bytes in [1, 300, 4096, 1 << 20] {
        let chunks: Vec<Vec<u8>> = stream::json_chunks_sized(traces.clone(), chunk_bytes).collect();
        assert!(chunks.iter().all(|c| !c.is_empty()));
        assert_eq!(
            String::from_utf8(chunks.concat()).expect("utf-8"),
            String::from_utf8(expected.clone()).expect("utf-8"),
            "chunk size {chunk_bytes}"
        );
        if chunk_bytes == 300 {
            assert!(chunks.len() > 10, "{} chunks", chunks.len());
        }
    }
    assert_eq!(json_chunks(Vec::new()).count(), 0);
}

#[test]
fn a_large_trace_is_written_in_bounded_chunks() {
    let traces = vec![varied_trace(200, 4)];
    let chunks: Vec<Vec<u8>> = stream::json_chunks_sized(traces.clone(), 2048).collect();
    assert!(chunks.len() > 20, "{} chunks", chunks.len());
    // A chunk ends after the span that crossed the bound: never far beyond it.
    assert!(
        chunks.iter().all(|c| c.len() < 2048 + 1024),
        "chunk too large"
    );
    assert_eq!(chunks.concat(), model_json(&traces));
}

/// Times the whole-model path (convert the trace, then one `to_vec`) against the chunked
/// writer on a 100k-span trace. Run with
/// `cargo test -p spoor-query --release large_trace_serialisation_time -- --ignored --nocapture`.
#[test]
#[ignore = "a timing, not a check"]
fn large_trace_serialisation_time() {
    let mut trace = Vec::new();
    for r in 0..5u8 {
        let mut rs = varied_trace(200, 7).remove(0);
        rs.resource = Some(spoor_model::otlp_resource::Resource {
            attributes: vec![attr::string("service.name", format!("svc-{r}"))],
            ..Default::default()
        });
        let spans: Vec<OtlpSpan> = (0..20_000u32)
            .map(|i| {
                let mut s = rs.scope_spans[0].spans[(i % 100) as usize].clone();
                s.span_id = (u64::from(i) + (u64::from(r) << 32) + 1)
                    .to_be_bytes()
                    .to_vec();
                s.attributes.push(attr::string(
                    "http.url",
                    format!("https://example.com/api/items/{i}"),
                ));
                s
            })
            .collect();
        rs.scope_spans = vec![ScopeSpans {
            spans,
            ..Default::default()
        }];
        trace.push(rs);
    }
    let runs = 3;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let model = Trace::from_otlp(&trace);
        let converted = t.elapsed();
        let bytes = serde_json::to_vec(&model).expect("serialise");
        let whole = t.elapsed();
        let input = vec![trace.clone()];
        let t = std::time::Instant::now();
        let mut first = None;
        let mut total = 0;
        for chunk in json_chunks(input) {
            first.get_or_insert_with(|| t.elapsed());
            total += chunk.len();
        }
        let chunked = t.elapsed();
        eprintln!(
            "100k spans, {:.1} MB: model {:?} (of it conversion {:?}); chunked {:?}, first chunk after {:?} ({} bytes)",
            bytes.len() as f64 / 1e6,
            whole,
            converted,
            chunked,
            first.unwrap_or_default(),
            total
        );
    }
}
