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
