use prost::Message;
use serde_json::Value as Json;
use spoor_model::attr;
use spoor_model::otlp_trace::{ResourceSpans, Span};

use super::proto::proto3;
use super::*;
use crate::jaeger::tests::conformance_dir;

fn all_spans(rs: &[ResourceSpans]) -> Vec<(&str, &Span)> {
    rs.iter()
        .flat_map(|r| {
            let service = r
                .resource
                .as_ref()
                .and_then(|r| attr::find_str(&r.attributes, "service.name"))
                .unwrap_or("");
            r.scope_spans
                .iter()
                .flat_map(move |s| s.spans.iter().map(move |sp| (service, sp)))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_fixture(name: &str) -> Option<Vec<u8>> {
    let dir = conformance_dir("zipkin-v1.76")?;
    Some(std::fs::read(dir.join(name)).expect("read fixture"))
}

#[test]
fn conformance_v2_json() {
    let Some(body) = read_fixture("zipkin_v2_01.json") else {
        return;
    };
    let rs = spans_to_otlp(decode_v2_json(&body).expect("decode"));
    let spans = all_spans(&rs);
    assert_eq!(spans.len(), 1);
    let (service, s) = spans[0];
    assert_eq!(service, "foo");
    assert_eq!(hex(&s.trace_id), "bd7a974555f6b982bd71977555f6b981");
    assert_eq!(hex(&s.span_id), "0000000000000002");
    assert_eq!(hex(&s.parent_span_id), "0000000000000001");
    assert_eq!(s.kind, 3, "client");
    assert_eq!(
        (s.start_time_unix_nano, s.end_time_unix_nano),
        (1000, 11000)
    );
    assert_eq!(attr::find_str(&s.attributes, "foo"), Some("bar"));
    assert_eq!(attr::find_str(&s.attributes, "peer.service"), Some("bar"));
    assert_eq!(
        attr::find_str(&s.attributes, "net.peer.ip"),
        Some("10.43.17.43")
    );
    assert_eq!(
        attr::find_str(&s.attributes, "net.host.ip"),
        Some("10.43.17.42")
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(
        (s.events[0].name.as_str(), s.events[0].time_unix_nano),
        ("foo", 1000)
    );

    let Some(body) = read_fixture("zipkin_v2_02.json") else {
        return;
    };
    let rs = spans_to_otlp(decode_v2_json(&body).expect("decode"));
    let (service, s) = all_spans(&rs)[0];
    assert_eq!(service, "bar");
    assert_eq!(
        hex(&s.trace_id),
        "00000000000000000000000000000002",
        "64-bit id widened"
    );
    assert!(s.parent_span_id.is_empty());
    assert_eq!(
        attr::find(&s.attributes, "net.host.port").and_then(|v| v.value.clone()),
        Some(spoor_model::otlp_common::any_value::Value::IntValue(8080))
    );

    let Some(body) = read_fixture("zipkin_v2_03.json") else {
        return;
    };
    let rs = spans_to_otlp(decode_v2_json(&body).expect("decode"));
    let (service, s) = all_spans(&rs)[0];
    assert_eq!((service, s.kind), ("schemas-service", 4));
    assert_eq!(hex(&s.parent_span_id), "0c26551047c72d19");
    assert_eq!(attr::find_str(&s.attributes, "peer.service"), Some("kafka"));
}

fn b64(j: &Json) -> Vec<u8> {
    let s = j.as_str().unwrap_or_default();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | alphabet.iter().position(|a| *a == c).expect("b64") as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn proto_endpoint(j: &Json) -> Option<proto3::Endpoint> {
    j.is_object().then(|| proto3::Endpoint {
        service_name: j["service_name"].as_str().unwrap_or_default().into(),
        ipv4: b64(&j["ipv4"]),
        ipv6: vec![],
        port: j["port"].as_i64().unwrap_or(0) as i32,
    })
}

/// The fixtures are the protobuf messages in their JSON form; encode them to the wire form.
fn proto_from_fixture(j: &Json) -> Vec<u8> {
    let spans = j["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| proto3::Span {
            trace_id: b64(&s["trace_id"]),
            parent_id: b64(&s["parent_id"]),
            id: b64(&s["id"]),
            kind: s["kind"].as_i64().unwrap_or(0) as i32,
            name: s["name"].as_str().unwrap_or_default().into(),
            timestamp: s["timestamp"].as_u64().unwrap_or(0),
            duration: s["duration"].as_u64().unwrap_or(0),
            local_endpoint: proto_endpoint(&s["local_endpoint"]),
            remote_endpoint: proto_endpoint(&s["remote_endpoint"]),
            annotations: s["annotations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| proto3::Annotation {
                    timestamp: a["timestamp"].as_u64().unwrap_or(0),
                    value: a["value"].as_str().unwrap_or_default().into(),
                })
                .collect(),
            tags: s["tags"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into()))
                .collect(),
            debug: s["debug"].as_bool().unwrap_or(false),
            shared: s["shared"].as_bool().unwrap_or(false),
        })
        .collect();
    proto3::ListOfSpans { spans }.encode_to_vec()
}

#[test]
fn conformance_v2_proto() {
    let Some(body) = read_fixture("zipkin_proto_01.json") else {
        return;
    };
    let wire = proto_from_fixture(&serde_json::from_slice(&body).expect("json"));
    let rs = spans_to_otlp(decode_v2_proto(&wire).expect("decode"));
    let (service, s) = all_spans(&rs)[0];
    assert_eq!(service, "foo");
    assert_eq!(hex(&s.trace_id), "428568baaa09467e428e688aaa09467f");
    assert_eq!(hex(&s.parent_span_id), "0000000000000001");
    assert_eq!(s.kind, 3);
    assert_eq!(
        attr::find_str(&s.attributes, "net.host.ip"),
        Some("10.43.17.42")
    );
    assert_eq!(attr::find_str(&s.attributes, "foo"), Some("bar"));
    let Some(body) = read_fixture("zipkin_proto_02.json") else {
        return;
    };
    let wire = proto_from_fixture(&serde_json::from_slice(&body).expect("json"));
    let rs = spans_to_otlp(decode_v2_proto(&wire).expect("decode"));
    let (service, s) = all_spans(&rs)[0];
    assert_eq!((service, s.name.as_str()), ("bar", "foo"));
}

fn check_merged(rs: &[ResourceSpans]) {
    let spans = all_spans(rs);
    assert_eq!(
        spans.len(),
        3,
        "root server + client and shared server halves"
    );
    let root = spans
        .iter()
        .find(|(_, s)| s.name == "get /")
        .expect("root")
        .1;
    assert_eq!(root.kind, 2);
    assert!(root.parent_span_id.is_empty());
    let client = spans
        .iter()
        .find(|(_, s)| s.name == "get /api" && s.kind == 3)
        .expect("client half")
        .1;
    let server = spans
        .iter()
        .find(|(_, s)| s.name == "get /api" && s.kind == 2)
        .expect("server half")
        .1;
    assert_eq!(client.parent_span_id, root.span_id);
    assert_eq!(hex(&client.span_id), "c943743e25dc2cdf");
    assert_eq!(
        server.parent_span_id, client.span_id,
        "shared server span re-parented"
    );
    assert_ne!(server.span_id, client.span_id);
    assert_eq!(client.start_time_unix_nano, 1_633_073_248_678_309_000);
    assert_eq!(
        client.end_time_unix_nano - client.start_time_unix_nano,
        6_720_000
    );
    assert_eq!(
        server.end_time_unix_nano - server.start_time_unix_nano,
        6_719_000
    );
    assert!(
        client.events.is_empty() && server.events.is_empty(),
        "core annotations consumed"
    );
}

#[test]
fn conformance_v1_merged_spans() {
    let Some(body) = read_fixture("zipkin_v1_merged_spans.json") else {
        return;
    };
    // The fixture is v2-shaped with v1 core annotations (what the v1.76 collector test posts).
    let rs = spans_to_otlp(decode_v2_json(&body).expect("decode"));
    check_merged(&rs);
    assert!(
        all_spans(&rs)
            .iter()
            .all(|(svc, _)| *svc == "first_service")
    );
}

#[test]
fn conformance_v1_thrift_merged_spans() {
    let Some(body) = read_fixture("zipkin_thrift_v1_merged_spans.json") else {
        return;
    };
    let j: Json = serde_json::from_slice(&body).expect("json");
    let names: Vec<String> = j
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let spans: Vec<thrift::V1ThriftSpan<'_>> = j
        .as_array()
        .expect("spans")
        .iter()
        .zip(&names)
        .map(|(s, name)| {
            (
                s["trace_id"].as_i64().unwrap_or(0),
                s["id"].as_i64().unwrap_or(0),
                s["parent_id"].as_i64(),
                name.as_str(),
                s["timestamp"].as_i64().unwrap_or(0),
                s["duration"].as_i64().unwrap_or(0),
                s["annotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        (
                            a["timestamp"].as_i64().unwrap_or(0),
                            a["value"].as_str().unwrap_or_default(),
                            "first_service",
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let rs = spans_to_otlp(decode_v1_thrift(&encode_v1_thrift(&spans)).expect("decode"));
    check_merged(&rs);
}

#[test]
fn v1_json_with_binary_annotations() {
    let body = br#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","parentId":"6b221d5bc9e6496c",
      "name":"get","timestamp":1000,"duration":500,
      "annotations":[{"timestamp":1000,"value":"cs","endpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"}},
                     {"timestamp":1200,"value":"retry","endpoint":{"serviceName":"frontend"}},
                     {"timestamp":1500,"value":"cr","endpoint":{"serviceName":"frontend"}}],
      "binaryAnnotations":[{"key":"http.path","value":"/api","endpoint":{"serviceName":"frontend"}},
                           {"key":"sa","value":true,"endpoint":{"serviceName":"backend","ipv4":"10.0.0.2","port":8080}},
                           {"key":"error","value":"boom"}]}]"#;
    let rs = spans_to_otlp(decode_v1_json(body).expect("decode"));
    let spans = all_spans(&rs);
    assert_eq!(spans.len(), 1);
    let (service, s) = spans[0];
    assert_eq!((service, s.kind), ("frontend", 3));
    assert_eq!(attr::find_str(&s.attributes, "http.path"), Some("/api"));
    assert_eq!(
        attr::find_str(&s.attributes, "peer.service"),
        Some("backend")
    );
    assert_eq!(
        attr::find_str(&s.attributes, "net.peer.ip"),
        Some("10.0.0.2")
    );
    let status = s.status.as_ref().expect("status");
    assert_eq!((status.code, status.message.as_str()), (2, "boom"));
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].name, "retry");
}

#[test]
fn otel_exporter_conventions() {
    // What the OTel SDKs' Zipkin exporters send: resource attributes and scope flattened into
    // tags, status as otel.status_code, error as the description.
    let body = br#"[{"traceId":"0af7651916cd43dd8448eb211c80319c","id":"b7ad6b7169203331","name":"op",
      "timestamp":10,"duration":5,"kind":"SERVER","localEndpoint":{"serviceName":"svc"},
      "tags":{"otel.status_code":"ERROR","error":"it broke","service.name":"svc",
              "telemetry.sdk.language":"python","otel.library.name":"lib","otel.library.version":"2",
              "http.method":"GET","w3c.tracestate":"a=b"},
      "annotations":[{"timestamp":12,"value":"exception|{\"exception.type\":\"E\"}|0"}]}]"#;
    let rs = spans_to_otlp(decode_v2_json(body).expect("decode"));
    assert_eq!(rs.len(), 1);
    let res = &rs[0].resource.as_ref().expect("resource").attributes;
    assert_eq!(attr::find_str(res, "service.name"), Some("svc"));
    assert_eq!(
        attr::find_str(res, "telemetry.sdk.language"),
        Some("python")
    );
    let scope = rs[0].scope_spans[0].scope.as_ref().expect("scope");
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "2"));
    let s = &rs[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_state, "a=b");
    let status = s.status.as_ref().expect("status");
    assert_eq!((status.code, status.message.as_str()), (2, "it broke"));
    let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["http.method"]);
    assert_eq!(s.events[0].name, "exception");
    assert_eq!(
        attr::find_str(&s.events[0].attributes, "exception.type"),
        Some("E")
    );
}

#[test]
fn shared_server_spans_get_unique_ids_and_keep_their_children() {
    let body = br#"[
      {"traceId":"1","id":"a","kind":"CLIENT","name":"call","timestamp":1,"duration":9,"localEndpoint":{"serviceName":"front"}},
      {"traceId":"1","id":"a","kind":"SERVER","shared":true,"name":"handle","timestamp":2,"duration":7,"localEndpoint":{"serviceName":"back"}},
      {"traceId":"1","id":"b","parentId":"a","name":"db","timestamp":3,"duration":1,"localEndpoint":{"serviceName":"back"}}]"#;
    let rs = spans_to_otlp(decode_v2_json(body).expect("decode"));
    let spans = all_spans(&rs);
    let get = |n: &str| spans.iter().find(|(_, s)| s.name == n).expect("span").1;
    let (client, server, db) = (get("call"), get("handle"), get("db"));
    assert_ne!(server.span_id, client.span_id);
    assert_eq!(server.parent_span_id, client.span_id);
    assert_eq!(db.parent_span_id, server.span_id);
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(decode_v2_json(b"{").is_err());
    assert!(decode_v2_json(br#"[{"traceId":"zz","id":"1"}]"#).is_err());
    assert!(decode_v2_json(br#"[{"traceId":"1","id":"12345678901234567"}]"#).is_err());
    assert!(decode_v1_json(br#"[{"id":"1"}]"#).is_err());
    assert!(decode_v2_proto(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    assert!(decode_v1_thrift(&[12, 0x7f, 0, 0, 0]).is_err());
    let empty_id = proto3::ListOfSpans {
        spans: vec![proto3::Span::default()],
    }
    .encode_to_vec();
    assert!(decode_v2_proto(&empty_id).is_err());
}
