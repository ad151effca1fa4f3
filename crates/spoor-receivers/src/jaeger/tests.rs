use serde_json::Value as Json;
use spoor_model::attr;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_trace::{ResourceSpans, Span};

use super::model::*;
use super::proto::{api_v2, batch_from_proto};
use super::thrift::*;
use crate::thrift::Protocol;

const PROTOCOLS: [Protocol; 2] = [Protocol::Binary, Protocol::Compact];

pub(crate) fn conformance_dir(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/jaeger")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping: conformance folder {} is absent", dir.display());
        None
    }
}

fn tag_from_json(t: &Json) -> JaegerTag {
    let key = t["key"].as_str().unwrap_or_default();
    let value = match t["vType"].as_str().unwrap_or_default() {
        "STRING" => TagValue::Str(t["vStr"].as_str().unwrap_or_default().into()),
        "BOOL" => TagValue::Bool(t["vBool"].as_bool().unwrap_or_default()),
        "LONG" => TagValue::Long(t["vLong"].as_i64().unwrap_or_default()),
        "DOUBLE" => TagValue::Double(t["vDouble"].as_f64().unwrap_or_default()),
        "BINARY" => TagValue::Binary(base64_decode(t["vBinary"].as_str().unwrap_or_default())),
        other => panic!("unknown vType {other}"),
    };
    JaegerTag::new(key, value)
}

fn tags_from_json(v: &Json) -> Vec<JaegerTag> {
    v.as_array()
        .map(|a| a.iter().map(tag_from_json).collect())
        .unwrap_or_default()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = alphabet.iter().position(|a| *a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn batch_from_thrift_json(v: &Json) -> JaegerBatch {
    let i = |v: &Json, k: &str| v[k].as_i64().unwrap_or_default();
    JaegerBatch {
        process: Some(JaegerProcess {
            service_name: v["process"]["serviceName"]
                .as_str()
                .unwrap_or_default()
                .into(),
            tags: tags_from_json(&v["process"]["tags"]),
        }),
        spans: v["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| JaegerSpan {
                trace_id: trace_id_from_halves(i(s, "traceIdHigh"), i(s, "traceIdLow")),
                span_id: i(s, "spanId").to_be_bytes(),
                parent_span_id: i(s, "parentSpanId").to_be_bytes(),
                operation_name: s["operationName"].as_str().unwrap_or_default().into(),
                references: s["references"]
                    .as_array()
                    .map(|refs| {
                        refs.iter()
                            .map(|r| JaegerRef {
                                ref_type: if r["refType"] == "FOLLOWS_FROM" {
                                    RefType::FollowsFrom
                                } else {
                                    RefType::ChildOf
                                },
                                trace_id: trace_id_from_halves(
                                    i(r, "traceIdHigh"),
                                    i(r, "traceIdLow"),
                                ),
                                span_id: i(r, "spanId").to_be_bytes(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                flags: i(s, "flags") as u32,
                start_unix_nano: i(s, "startTime") as u64 * 1000,
                duration_nano: i(s, "duration") as u64 * 1000,
                tags: tags_from_json(&s["tags"]),
                logs: s["logs"]
                    .as_array()
                    .map(|logs| {
                        logs.iter()
                            .map(|l| JaegerLog {
                                timestamp_unix_nano: i(l, "timestamp") as u64 * 1000,
                                fields: tags_from_json(&l["fields"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                process: None,
            })
            .collect(),
    }
}

fn all_spans(rs: &[ResourceSpans]) -> Vec<&Span> {
    rs.iter()
        .flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.iter()))
        .collect()
}

fn attr_json(kv: Option<&spoor_model::otlp_common::AnyValue>) -> Json {
    match kv.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => Json::from(s.clone()),
        Some(Value::BoolValue(b)) => Json::from(*b),
        Some(Value::IntValue(n)) => Json::from(*n),
        Some(Value::DoubleValue(d)) => Json::from(*d),
        Some(Value::BytesValue(b)) => Json::from(attr::base64_encode(b)),
        _ => Json::Null,
    }
}

fn domain_value(t: &Json) -> Json {
    for k in ["vStr", "vBool", "vInt64", "vFloat64", "vBinary"] {
        if !t[k].is_null() {
            return t[k].clone();
        }
    }
    match t["vType"].as_str() {
        Some("BOOL") => Json::from(false),
        Some("INT64") => Json::from(0),
        _ => Json::from(""),
    }
}

/// Checks an OTLP translation against the Jaeger domain model the same batch maps to.
fn check_against_domain(rs: &[ResourceSpans], domain: &Json) {
    let spans = all_spans(rs);
    let expected = domain["spans"].as_array().expect("domain spans");
    assert_eq!(spans.len(), expected.len());
    for (got, want) in spans.iter().zip(expected) {
        let name = want["operationName"].as_str().unwrap_or_default();
        assert_eq!(got.name, name);
        assert_eq!(
            got.trace_id,
            base64_decode(want["traceId"].as_str().unwrap_or_default())
        );
        assert_eq!(
            got.span_id,
            base64_decode(want["spanId"].as_str().unwrap_or_default())
        );
        let parent = want["references"]
            .as_array()
            .and_then(|refs| refs.first())
            .map(|r| base64_decode(r["spanId"].as_str().unwrap_or_default()))
            .unwrap_or_default();
        assert_eq!(got.parent_span_id, parent, "parent of {name}");
        let duration = want["duration"].as_str().unwrap_or_default();
        assert_eq!(
            format!("{}ns", got.end_time_unix_nano - got.start_time_unix_nano),
            duration
        );
        for t in want["tags"].as_array().into_iter().flatten() {
            let key = t["key"].as_str().unwrap_or_default();
            if key == "span.kind" {
                assert_eq!(
                    spoor_model::span_kind_name(got.kind).to_ascii_lowercase(),
                    t["vStr"].as_str().unwrap_or_default()
                );
                continue;
            }
            assert_eq!(
                attr_json(attr::find(&got.attributes, key)),
                domain_value(t),
                "tag {key}"
            );
        }
        let logs = want["logs"].as_array().cloned().unwrap_or_default();
        assert_eq!(got.events.len(), logs.len());
        for (event, log) in got.events.iter().zip(&logs) {
            for f in log["fields"].as_array().into_iter().flatten() {
                let key = f["key"].as_str().unwrap_or_default();
                if key == "event" {
                    assert_eq!(event.name, f["vStr"].as_str().unwrap_or_default());
                } else {
                    assert_eq!(
                        attr_json(attr::find(&event.attributes, key)),
                        domain_value(f)
                    );
                }
            }
        }
        let resource = rs
            .iter()
            .find(|r| {
                r.scope_spans
                    .iter()
                    .any(|s| s.spans.iter().any(|s| s == *got))
            })
            .and_then(|r| r.resource.as_ref())
            .expect("resource");
        assert_eq!(
            attr::find_str(&resource.attributes, "service.name"),
            want["process"]["serviceName"].as_str()
        );
        for t in want["process"]["tags"].as_array().into_iter().flatten() {
            let key = match t["key"].as_str().unwrap_or_default() {
                "hostname" => "host.name",
                "jaeger.version" => continue,
                k => k,
            };
            assert_eq!(
                attr_json(attr::find(&resource.attributes, key)),
                domain_value(t)
            );
        }
    }
}

#[test]
fn conformance_thrift_batches_translate_like_the_domain_model() {
    let Some(dir) = conformance_dir("thrift") else {
        return;
    };
    for n in ["01", "02"] {
        let read = |f: String| -> Json {
            serde_json::from_str(&std::fs::read_to_string(dir.join(f)).expect("read fixture"))
                .expect("fixture json")
        };
        let batch = batch_from_thrift_json(&read(format!("thrift_batch_{n}.json")));
        let domain = read(format!("domain_{n}.json"));
        for protocol in PROTOCOLS {
            let bytes = encode_batch(&batch, protocol);
            let decoded = decode_batch(&bytes, protocol).expect("decode batch");
            assert_eq!(decoded, batch);
            check_against_domain(&batch_to_otlp(decoded), &domain);
            let message = encode_agent_message(&batch, protocol, 1);
            let decoded = decode_agent_message(&message, protocol).expect("decode message");
            check_against_domain(&batch_to_otlp(decoded), &domain);
        }
    }
}

/// A three-span trace as a Jaeger client would send it.
pub(crate) fn sample_batch() -> JaegerBatch {
    let trace_id = trace_id_from_halves(0, 0x1234_5678_9abc_def0);
    let span = |id: u8, parent: u8, name: &str, tags: Vec<JaegerTag>| JaegerSpan {
        trace_id,
        span_id: [0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: [0, 0, 0, 0, 0, 0, 0, parent],
        operation_name: name.into(),
        flags: 1,
        start_unix_nano: 1_700_000_000_000_000_000 + u64::from(id) * 1000,
        duration_nano: 5_000_000,
        tags,
        ..Default::default()
    };
    let mut root = span(
        1,
        0,
        "GET /checkout",
        vec![
            JaegerTag::new("span.kind", TagValue::Str("server".into())),
            JaegerTag::new("sampler.type", TagValue::Str("const".into())),
            JaegerTag::new("sampler.param", TagValue::Bool(true)),
            JaegerTag::new("http.status_code", TagValue::Long(200)),
        ],
    );
    root.logs = vec![JaegerLog {
        timestamp_unix_nano: 1_700_000_000_000_002_000,
        fields: vec![
            JaegerTag::new("event", TagValue::Str("cache miss".into())),
            JaegerTag::new("key", TagValue::Str("cart:42".into())),
        ],
    }];
    let child = span(
        2,
        1,
        "charge",
        vec![
            JaegerTag::new("span.kind", TagValue::Str("client".into())),
            JaegerTag::new("error", TagValue::Bool(true)),
            JaegerTag::new(
                "otel.status_description",
                TagValue::Str("card declined".into()),
            ),
            JaegerTag::new("amount", TagValue::Double(12.5)),
            JaegerTag::new("otel.library.name", TagValue::Str("payments".into())),
            JaegerTag::new("otel.library.version", TagValue::Str("1.2".into())),
        ],
    );
    let mut grandchild = span(3, 0, "db", vec![JaegerTag::new("rows", TagValue::Long(3))]);
    grandchild.references = vec![
        JaegerRef {
            ref_type: RefType::FollowsFrom,
            trace_id: trace_id_from_halves(7, 7),
            span_id: [9; 8],
        },
        JaegerRef {
            ref_type: RefType::ChildOf,
            trace_id,
            span_id: [0, 0, 0, 0, 0, 0, 0, 2],
        },
    ];
    JaegerBatch {
        process: Some(JaegerProcess {
            service_name: "shop".into(),
            tags: vec![
                JaegerTag::new("hostname", TagValue::Str("box-1".into())),
                JaegerTag::new("jaeger.version", TagValue::Str("Python-4.8.0".into())),
                JaegerTag::new("ip", TagValue::Str("10.0.0.1".into())),
            ],
        }),
        spans: vec![root, child, grandchild],
    }
}

#[test]
fn translates_kind_status_events_links_and_scope() {
    for protocol in PROTOCOLS {
        let bytes = encode_agent_message(&sample_batch(), protocol, 9);
        let rs = batch_to_otlp(decode_agent_message(&bytes, protocol).expect("decode"));
        assert_eq!(rs.len(), 1);
        let res = &rs[0].resource.as_ref().expect("resource").attributes;
        assert_eq!(attr::find_str(res, "service.name"), Some("shop"));
        assert_eq!(attr::find_str(res, "host.name"), Some("box-1"));
        assert_eq!(attr::find_str(res, "ip"), Some("10.0.0.1"));
        assert_eq!(
            attr::find_str(res, "opencensus.exporterversion"),
            Some("Jaeger-Python-4.8.0")
        );
        // Two scopes: the default one and `payments`.
        assert_eq!(rs[0].scope_spans.len(), 2);
        let payments = rs[0]
            .scope_spans
            .iter()
            .find(|s| s.scope.as_ref().is_some_and(|s| s.name == "payments"))
            .expect("payments scope");
        assert_eq!(
            payments.scope.as_ref().map(|s| s.version.as_str()),
            Some("1.2")
        );
        let spans = all_spans(&rs);
        let by_name = |n: &str| *spans.iter().find(|s| s.name == n).expect("span");
        let root = by_name("GET /checkout");
        assert_eq!(root.trace_id[..8], [0; 8], "64-bit trace id left-padded");
        assert_eq!(root.kind, 2);
        assert!(root.parent_span_id.is_empty());
        assert!(root.status.is_none());
        assert_eq!(
            attr::find_str(&root.attributes, "sampler.type"),
            Some("const")
        );
        assert!(attr::find(&root.attributes, "sampler.param").is_some());
        assert!(attr::find(&root.attributes, "span.kind").is_none());
        assert_eq!(root.events.len(), 1);
        assert_eq!(root.events[0].name, "cache miss");
        assert_eq!(
            attr::find_str(&root.events[0].attributes, "key"),
            Some("cart:42")
        );
        let charge = by_name("charge");
        assert_eq!(charge.kind, 3);
        assert_eq!(charge.parent_span_id, root.span_id);
        let status = charge.status.as_ref().expect("status");
        assert_eq!((status.code, status.message.as_str()), (2, "card declined"));
        for gone in ["error", "otel.status_description", "otel.library.name"] {
            assert!(attr::find(&charge.attributes, gone).is_none(), "{gone}");
        }
        let db = by_name("db");
        assert_eq!(db.parent_span_id, charge.span_id, "first CHILD_OF ref");
        assert_eq!(db.links.len(), 1);
        assert_eq!(db.links[0].span_id, vec![9; 8]);
        assert_eq!(
            attr::find_str(&db.links[0].attributes, "opentracing.ref_type"),
            Some("follows_from")
        );
        assert_eq!(db.end_time_unix_nano - db.start_time_unix_nano, 5_000_000);
    }
}

#[test]
fn status_code_tag_and_http_fallback() {
    let mut attrs = vec![
        attr::string("otel.status_code", "OK"),
        attr::string("otel.status_description", "fine"),
    ];
    let s = status_from_attributes(&mut attrs, otlp_kind::Server).expect("status");
    assert_eq!((s.code, s.message.as_str()), (1, "fine"));
    assert!(attrs.is_empty());
    let mut attrs = vec![attr::int("http.status_code", 404)];
    assert!(status_from_attributes(&mut attrs, otlp_kind::Server).is_none());
    assert_eq!(
        status_from_attributes(&mut attrs, otlp_kind::Client).map(|s| s.code),
        Some(2)
    );
    let mut attrs = vec![attr::bool("error", false)];
    assert!(status_from_attributes(&mut attrs, otlp_kind::Client).is_none());
    assert_eq!(attrs.len(), 1, "error=false stays a tag");
}

use spoor_model::otlp_trace::span::SpanKind as otlp_kind;

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    for protocol in PROTOCOLS {
        let good = encode_agent_message(&sample_batch(), protocol, 1);
        for cut in 0..good.len() {
            assert!(
                decode_agent_message(&good[..cut], protocol).is_err(),
                "cut {cut}"
            );
        }
        let mut flipped = good.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xa5;
            let _ = decode_agent_message(&flipped, protocol);
            flipped[i] ^= 0xa5;
        }
    }
    assert!(decode_agent_message(b"", Protocol::Compact).is_err());
    assert!(decode_batch(&[0x19, 0xfc], Protocol::Compact).is_err());
}

#[test]
fn protobuf_batches_use_span_processes_and_references() {
    let proto = api_v2::Batch {
        process: Some(api_v2::Process {
            service_name: "batch-svc".into(),
            tags: vec![],
        }),
        spans: vec![
            api_v2::Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                operation_name: "a".into(),
                start_time: Some(prost_types::Timestamp {
                    seconds: 10,
                    nanos: 5,
                }),
                duration: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
                references: vec![api_v2::SpanRef {
                    trace_id: vec![1; 16],
                    span_id: vec![3; 8],
                    ref_type: api_v2::SpanRefType::ChildOf as i32,
                }],
                tags: vec![api_v2::KeyValue {
                    key: "n".into(),
                    v_type: api_v2::ValueType::Int64 as i32,
                    v_int64: 7,
                    ..Default::default()
                }],
                ..Default::default()
            },
            api_v2::Span {
                trace_id: vec![1; 16],
                span_id: vec![3; 8],
                operation_name: "b".into(),
                process: Some(api_v2::Process {
                    service_name: "own-svc".into(),
                    tags: vec![],
                }),
                ..Default::default()
            },
        ],
    };
    let rs = batch_to_otlp(batch_from_proto(proto).expect("convert"));
    assert_eq!(rs.len(), 2);
    let a = &rs[0].scope_spans[0].spans[0];
    assert_eq!(a.parent_span_id, vec![3; 8]);
    assert!(a.links.is_empty());
    assert_eq!(a.start_time_unix_nano, 10_000_000_005);
    assert_eq!(a.end_time_unix_nano, 11_000_000_005);
    let services: Vec<_> = rs
        .iter()
        .filter_map(|r| attr::find_str(&r.resource.as_ref()?.attributes, "service.name"))
        .collect();
    assert_eq!(services, ["batch-svc", "own-svc"]);
    let bad = api_v2::Batch {
        process: None,
        spans: vec![api_v2::Span {
            trace_id: vec![1; 17],
            span_id: vec![2; 8],
            ..Default::default()
        }],
    };
    assert!(batch_from_proto(bad).is_err());
}

#[test]
fn a_batch_of_many_empty_spans_is_refused_before_it_is_decoded() {
    // Batch { process: Process { serviceName: "s" }, spans: [100 000 empty structs] }
    let n: i32 = 100_000;
    let mut body = vec![0x0c, 0x00, 0x01, 0x0b, 0x00, 0x01, 0, 0, 0, 1, b's', 0x00];
    body.extend_from_slice(&[0x0f, 0x00, 0x02, 0x0c]);
    body.extend_from_slice(&n.to_be_bytes());
    body.extend(std::iter::repeat_n(0u8, n as usize));
    body.push(0x00);
    let limit = 1024 * 1024;
    let err = decode_batch_within(&body, Protocol::Binary, limit).expect_err("too large");
    assert!(
        matches!(err, crate::thrift::ThriftError::TooLarge { limit: l } if l == limit),
        "{err}"
    );
    let batch = decode_batch_within(&body, Protocol::Binary, usize::MAX).expect("unlimited");
    assert_eq!(batch.spans.len(), n as usize);
}

#[test]
fn span_kind_tags_in_any_spelling_and_unknown_ones_kept() {
    let kind_of = |value: &str| {
        let span = JaegerSpan {
            span_id: [0, 0, 0, 0, 0, 0, 0, 1],
            trace_id: [1; 16],
            operation_name: "op".into(),
            tags: vec![JaegerTag::new("span.kind", TagValue::Str(value.into()))],
            ..Default::default()
        };
        let batch = JaegerBatch {
            process: None,
            spans: vec![span],
        };
        let rs = batch_to_otlp(batch);
        let spans = all_spans(&rs);
        let span = spans[0].clone();
        (
            span.kind,
            attr::find_str(&span.attributes, "span.kind").map(str::to_owned),
        )
    };
    assert_eq!(kind_of("server"), (2, None));
    assert_eq!(kind_of("SERVER"), (2, None));
    assert_eq!(kind_of("SPAN_KIND_CLIENT"), (3, None));
    assert_eq!(kind_of("Producer"), (4, None));
    assert_eq!(kind_of("gateway"), (0, Some("gateway".to_owned())));
}
