use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::otlp_trace::{span::SpanKind, status::StatusCode};
use spoor_model::{ScopeSpans, Status};
use spoor_model::{Span, attr};

use super::*;

fn batch(resource: Vec<KeyValue>, span: Span) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                version: "1.2".into(),
                ..Default::default()
            }),
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn client_span() -> Span {
    Span {
        trace_id: [[0u8; 8], [7u8; 8]].concat(),
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        name: "GET /Orders".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_123_456_789 + 2_500_600,
        attributes: vec![
            attr::string("peer.service", "Billing"),
            attr::string("net.peer.ip", "10.0.0.7"),
            attr::int("net.peer.port", 8080),
            attr::int("http.status_code", 500),
            attr::bool("error", false),
            attr::double("ratio", 0.5),
        ],
        events: vec![
            Event {
                time_unix_nano: 1_700_000_000_124_000_000,
                name: "retry".into(),
                ..Default::default()
            },
            Event {
                time_unix_nano: 1_700_000_000_125_000_000,
                name: "exception".into(),
                attributes: vec![attr::string("z", "1"), attr::int("a", 2)],
                dropped_attributes_count: 1,
            },
        ],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![8; 8],
            trace_state: "k=v".into(),
            ..Default::default()
        }],
        trace_state: "vendor=1".into(),
        status: Some(Status {
            code: StatusCode::Error as i32,
            message: "it broke".into(),
        }),
        ..Default::default()
    }
}

#[test]
fn translates_as_the_collector_does() {
    let b = batch(
        vec![
            attr::string("service.name", "Checkout"),
            attr::string("host.name", "h1"),
        ],
        client_span(),
    );
    let (spans, invalid) = translate(&b, NO_SERVICE_NAME);
    assert_eq!(invalid, 0);
    let s = &spans[0];
    assert_eq!(s.kind, Some("CLIENT"));
    assert_eq!(s.timestamp, 1_700_000_000_123_457);
    assert_eq!(s.duration, 2_501);
    let local = s.local.as_ref().expect("local");
    assert_eq!(local.service_name, "Checkout");
    let remote = s.remote.as_ref().expect("remote");
    assert_eq!(remote.service_name, "Billing");
    assert_eq!(remote.ip, Some("10.0.0.7".parse().expect("ip")));
    assert_eq!(remote.port, 8080);
    let tags = &s.tags;
    for gone in [
        "peer.service",
        "net.peer.ip",
        "net.peer.port",
        "service.name",
    ] {
        assert!(!tags.contains_key(gone), "{gone}");
    }
    assert_eq!(tags["host.name"], "h1");
    assert_eq!(tags["http.status_code"], "500");
    assert_eq!(tags["ratio"], "0.5");
    assert_eq!(tags["error"], "true");
    assert_eq!(tags["otel.status_code"], "ERROR");
    assert_eq!(tags["otel.status_description"], "it broke");
    assert_eq!(tags["otel.library.name"], "lib");
    assert_eq!(tags["otel.library.version"], "1.2");
    assert_eq!(tags["w3c.tracestate"], "vendor=1");
    assert_eq!(
        tags["otlp.link.0"],
        format!("{}|{}|k=v|{{}}|0", "09".repeat(16), "08".repeat(8))
    );
    assert_eq!(
        s.annotations[0],
        (1_700_000_000_124_000, "retry".to_string())
    );
    assert_eq!(s.annotations[1].1, r#"exception|{"a":2,"z":"1"}|1"#);

    let json: serde_json::Value = serde_json::from_slice(&to_json(&spans)).expect("json");
    let j = &json[0];
    // A trace id with zero high bits is written as 16 hex digits, as zipkin-go does.
    assert_eq!(j["traceId"], "0707070707070707");
    assert_eq!(j["parentId"], "0303030303030303");
    assert_eq!(j["name"], "get /orders");
    assert_eq!(j["localEndpoint"]["serviceName"], "checkout");
    assert_eq!(
        j["remoteEndpoint"],
        serde_json::json!({"serviceName": "billing", "ipv4": "10.0.0.7", "port": 8080})
    );
    assert_eq!(j["tags"]["otel.status_code"], "ERROR");
}

#[test]
fn internal_ok_and_unnamed_spans() {
    let mut span = client_span();
    span.kind = SpanKind::Internal as i32;
    span.attributes = vec![
        attr::string("error", "x"),
        attr::string("net.host.ip", "::1"),
    ];
    span.status = Some(Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    });
    let (spans, _) = translate(
        &batch(vec![attr::string("faas.name", "fn")], span.clone()),
        "dflt",
    );
    let s = &spans[0];
    assert_eq!(s.kind, None);
    assert_eq!(s.tags["span.kind"], "internal");
    assert_eq!(s.tags["otel.status_code"], "OK");
    assert!(!s.tags.contains_key("error"));
    assert_eq!(s.tags["zipkin.service_name_source"], "faas.name");
    let local = s.local.as_ref().expect("local");
    assert_eq!(
        (local.service_name.as_str(), local.ip),
        ("fn", Some("::1".parse().expect("ip")))
    );
    assert!(s.remote.is_none());

    // No resource attributes: the default service name.
    let (spans, _) = translate(&batch(vec![], span.clone()), "dflt");
    assert_eq!(
        spans[0].local.as_ref().map(|l| l.service_name.as_str()),
        Some("dflt")
    );

    // An empty span id cannot be sent.
    span.span_id = vec![0; 8];
    let (spans, invalid) = translate(&batch(vec![], span), "dflt");
    assert!(spans.is_empty());
    assert_eq!(invalid, 1);
}

#[test]
fn proto_encoding_round_trips() {
    let (spans, _) = translate(
        &batch(
            vec![attr::string("service.name", "Checkout")],
            client_span(),
        ),
        NO_SERVICE_NAME,
    );
    let decoded = proto::ListOfSpans::decode(to_proto(&spans).as_slice()).expect("decode");
    let s = &decoded.spans[0];
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.kind, 1);
    assert_eq!(s.name, "GET /Orders");
    assert_eq!(
        s.remote_endpoint.as_ref().map(|e| e.ipv4.clone()),
        Some(vec![10, 0, 0, 7])
    );
    assert_eq!(s.tags["otel.status_code"], "ERROR");
    assert_eq!(s.annotations.len(), 2);
}

#[test]
fn config_is_checked() {
    let c = ZipkinExporterConfig {
        endpoint: "http://localhost:9411/api/v2/spans".into(),
        format: "thrift".into(),
        ..Default::default()
    };
    let errors = c.validate();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "format");
    let c = ZipkinExporterConfig::default();
    assert!(c.validate().iter().any(|e| e.path == "endpoint"));
}
