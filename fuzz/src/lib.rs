//! Fuzz targets for Spoor's legacy wire decoders, shared by the cargo-fuzz binaries
//! (`fuzz_targets/`) and the stable-Rust smoke run (`tests/smoke.rs`).
//!
//! Each target decodes untrusted bytes and, when they decode, translates them to OTLP: neither
//! may panic, hang or allocate beyond what the input size justifies.

use prost::Message;
use spoor_receivers::jaeger_codec::{self as jaeger, Protocol, api_v2};
use spoor_receivers::zipkin_codec as zipkin;

/// `Agent.emitBatch` datagrams, thrift compact (UDP 6831).
pub fn jaeger_thrift_compact(data: &[u8]) {
    if let Ok(batch) = jaeger::decode_agent_message(data, Protocol::Compact) {
        let _ = jaeger::batch_to_otlp(batch);
    }
    let _ = jaeger::count_spans(data, Protocol::Compact);
}

/// `Agent.emitBatch` datagrams (UDP 6832) and bare `Batch` bodies (HTTP 14268), thrift binary.
pub fn jaeger_thrift_binary(data: &[u8]) {
    if let Ok(batch) = jaeger::decode_agent_message(data, Protocol::Binary) {
        let _ = jaeger::batch_to_otlp(batch);
    }
    if let Ok(batch) = jaeger::decode_batch(data, Protocol::Binary) {
        let _ = jaeger::batch_to_otlp(batch);
    }
    let _ = jaeger::count_spans(data, Protocol::Binary);
}

/// `jaeger.api_v2.PostSpansRequest` (gRPC 14250).
pub fn jaeger_proto(data: &[u8]) {
    if let Ok(request) = api_v2::PostSpansRequest::decode(data)
        && let Some(batch) = request.batch
        && let Ok(batch) = jaeger::batch_from_proto(batch)
    {
        let _ = jaeger::batch_to_otlp(batch);
    }
}

/// Zipkin v2 and v1 JSON (`/api/v2/spans`, `/api/v1/spans`).
pub fn zipkin_json(data: &[u8]) {
    if let Ok(spans) = zipkin::decode_v2_json(data) {
        let _ = zipkin::spans_to_otlp(spans);
    }
    if let Ok(spans) = zipkin::decode_v1_json(data) {
        let _ = zipkin::spans_to_otlp(spans);
    }
}

/// Zipkin v2 protobuf `ListOfSpans`.
pub fn zipkin_proto(data: &[u8]) {
    if let Ok(spans) = zipkin::decode_v2_proto(data) {
        let _ = zipkin::spans_to_otlp(spans);
    }
}

/// Zipkin v1 thrift `list<Span>`.
pub fn zipkin_thrift(data: &[u8]) {
    if let Ok(spans) = zipkin::decode_v1_thrift(data) {
        let _ = zipkin::spans_to_otlp(spans);
    }
}

/// OTLP `ExportTraceServiceRequest` bytes, decoded as the OTLP receivers decode them, then
/// through the storage engine: encoded as a block and every row read back. Whatever the
/// protobuf decoder accepts must come back whole: no undecodable row, no span lost.
pub fn engine_block(data: &[u8]) {
    use spoor_model::otlp_collector::ExportTraceServiceRequest;
    let Ok(request) = ExportTraceServiceRequest::decode(data) else {
        return;
    };
    match spoor_engine::round_trip(request.resource_spans) {
        Ok(r) => assert!(
            r.undecodable == 0 && r.spans_in == r.spans_out,
            "engine lost spans: {r:?}"
        ),
        Err(e) => panic!("engine could not read back its own block: {e}"),
    }
}

/// Every target with valid seed inputs to mutate from.
pub fn targets() -> Vec<(&'static str, fn(&[u8]), Vec<Vec<u8>>)> {
    let batch = seed_batch();
    vec![
        (
            "jaeger_thrift_compact",
            jaeger_thrift_compact as fn(&[u8]),
            vec![jaeger::encode_agent_message(&batch, Protocol::Compact, 1)],
        ),
        (
            "jaeger_thrift_binary",
            jaeger_thrift_binary,
            vec![
                jaeger::encode_agent_message(&batch, Protocol::Binary, 1),
                jaeger::encode_batch(&batch, Protocol::Binary),
            ],
        ),
        ("jaeger_proto", jaeger_proto, vec![seed_jaeger_proto()]),
        (
            "zipkin_json",
            zipkin_json,
            vec![
                ZIPKIN_V2_JSON.as_bytes().to_vec(),
                ZIPKIN_V1_JSON.as_bytes().to_vec(),
            ],
        ),
        ("zipkin_proto", zipkin_proto, vec![seed_zipkin_proto()]),
        ("engine_block", engine_block, vec![seed_otlp(2), seed_otlp(44)]),
        (
            "zipkin_thrift",
            zipkin_thrift,
            vec![zipkin::encode_v1_thrift(&[
                (
                    1,
                    1,
                    None,
                    "get /",
                    1_000,
                    20,
                    vec![(1_000, "sr", "a"), (1_020, "ss", "a")],
                ),
                (
                    1,
                    2,
                    Some(1),
                    "call",
                    1_005,
                    9,
                    vec![(1_005, "cs", "a"), (1_006, "sr", "b")],
                ),
            ])],
        ),
    ]
}

fn seed_batch() -> jaeger::JaegerBatch {
    use jaeger::{JaegerLog, JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, RefType, TagValue};
    let trace_id = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    jaeger::JaegerBatch {
        process: Some(JaegerProcess {
            service_name: "svc".into(),
            tags: vec![JaegerTag::new("hostname", TagValue::Str("h".into()))],
        }),
        spans: vec![JaegerSpan {
            trace_id,
            span_id: [0, 0, 0, 0, 0, 0, 0, 2],
            parent_span_id: [0, 0, 0, 0, 0, 0, 0, 1],
            operation_name: "op".into(),
            references: vec![JaegerRef {
                ref_type: RefType::FollowsFrom,
                trace_id,
                span_id: [0, 0, 0, 0, 0, 0, 0, 9],
            }],
            flags: 1,
            start_unix_nano: 1_000_000,
            duration_nano: 5_000,
            tags: vec![
                JaegerTag::new("span.kind", TagValue::Str("server".into())),
                JaegerTag::new("error", TagValue::Bool(true)),
                JaegerTag::new("n", TagValue::Long(-7)),
                JaegerTag::new("d", TagValue::Double(0.5)),
                JaegerTag::new("b", TagValue::Binary(vec![1, 2, 3])),
            ],
            logs: vec![JaegerLog {
                timestamp_unix_nano: 1_001_000,
                fields: vec![JaegerTag::new("event", TagValue::Str("e".into()))],
            }],
            process: None,
        }],
    }
}

fn seed_jaeger_proto() -> Vec<u8> {
    let kv = |key: &str, v_type: api_v2::ValueType| api_v2::KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        v_str: "s".into(),
        v_int64: 3,
        ..Default::default()
    };
    api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            process: Some(api_v2::Process {
                service_name: "svc".into(),
                tags: vec![kv("ip", api_v2::ValueType::String)],
            }),
            spans: vec![api_v2::Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                operation_name: "op".into(),
                references: vec![api_v2::SpanRef {
                    trace_id: vec![1; 16],
                    span_id: vec![3; 8],
                    ref_type: 0,
                }],
                tags: vec![
                    kv("span.kind", api_v2::ValueType::String),
                    kv("n", api_v2::ValueType::Int64),
                ],
                logs: vec![api_v2::Log {
                    timestamp: None,
                    fields: vec![kv("event", api_v2::ValueType::String)],
                }],
                ..Default::default()
            }],
        }),
    }
    .encode_to_vec()
}

fn seed_zipkin_proto() -> Vec<u8> {
    use zipkin::proto3;
    proto3::ListOfSpans {
        spans: vec![proto3::Span {
            trace_id: vec![1; 16],
            id: vec![2; 8],
            parent_id: vec![3; 8],
            kind: 2,
            name: "op".into(),
            timestamp: 10,
            duration: 5,
            local_endpoint: Some(proto3::Endpoint {
                service_name: "svc".into(),
                ipv4: vec![10, 0, 0, 1],
                ipv6: vec![],
                port: 80,
            }),
            annotations: vec![proto3::Annotation {
                timestamp: 11,
                value: "a".into(),
            }],
            tags: [("error".to_string(), "x".to_string())]
                .into_iter()
                .collect(),
            shared: true,
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

const ZIPKIN_V2_JSON: &str = r#"[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312",
"parentId":"0020000000000001","name":"get","kind":"SERVER","shared":true,"timestamp":1,"duration":2,
"localEndpoint":{"serviceName":"web","ipv4":"1.2.3.4","port":80},
"remoteEndpoint":{"serviceName":"db","ipv6":"::1"},
"annotations":[{"timestamp":1,"value":"x|{\"a\":1}|0"},{"timestamp":2,"value":"cs"}],
"tags":{"otel.status_code":"ERROR","error":"e","service.version":"1","otel.scope.name":"s"}}]"#;

const ZIPKIN_V1_JSON: &str = r#"[{"traceId":"48485a3953bb6124","id":"b2fb4a1d1a96d312","name":"get",
"timestamp":1,"duration":3,"annotations":[{"timestamp":1,"value":"cs","endpoint":{"serviceName":"a"}},
{"timestamp":2,"value":"sr","endpoint":{"serviceName":"b"}},{"timestamp":3,"value":"cr"}],
"binaryAnnotations":[{"key":"sa","value":true,"endpoint":{"serviceName":"b","ipv4":"1.2.3.4"}},
{"key":"k","value":7}]}]"#;

/// A small deterministic mutator (xorshift), for the stable smoke run.
pub struct Mutator {
    state: u64,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One to four random edits of `input`, sometimes spliced with `other`.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            let len = out.len();
            match self.below(8) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    out[i] = [0, 1, 0x7f, 0x80, 0xff, 0x0f, 0xf0, 0x19][self.below(8)];
                }
                2 => {
                    let i = self.below(len + 1);
                    let b = self.next() as u8;
                    out.insert(i, b);
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    let n = self.below((len - i).min(16)) + 1;
                    out.drain(i..i + n);
                }
                4 if len > 0 => {
                    let i = self.below(len);
                    let n = self.below((len - i).min(32)) + 1;
                    let chunk = out[i..i + n].to_vec();
                    let at = self.below(out.len() + 1);
                    out.splice(at..at, chunk);
                }
                5 => out.truncate(self.below(len + 1)),
                6 if !other.is_empty() => {
                    let cut = self.below(len + 1);
                    let from = self.below(other.len());
                    out.truncate(cut);
                    out.extend_from_slice(&other[from..]);
                }
                _ => {
                    // Random bytes: also exercises inputs unrelated to any seed.
                    let n = self.below(64);
                    let i = self.below(len + 1);
                    let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
                    out.splice(i..i, bytes);
                }
            }
        }
        out
    }
}

/// An OTLP request with every kind of value, and one attribute nested `depth` levels deep
/// (arrays, with a key-value list every fourth level; 44 is about what prost accepts).
fn seed_otlp(depth: usize) -> Vec<u8> {
    use spoor_model::otlp_collector::ExportTraceServiceRequest;
    use spoor_model::otlp_common::any_value::Value;
    use spoor_model::otlp_common::{AnyValue, ArrayValue, KeyValue, KeyValueList};
    use spoor_model::otlp_resource::Resource;
    use spoor_model::otlp_trace::span::{Event, Link};
    use spoor_model::{ResourceSpans, ScopeSpans, Span, attr};
    let mut deep = AnyValue {
        value: Some(Value::StringValue("x".into())),
    };
    for i in 0..depth {
        deep = AnyValue {
            value: Some(if i % 4 != 0 || depth > 40 {
                Value::ArrayValue(ArrayValue { values: vec![deep] })
            } else {
                Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".into(),
                        value: Some(deep),
                        ..Default::default()
                    }],
                })
            }),
        };
    }
    let deep = KeyValue {
        key: "deep".into(),
        value: Some(deep),
        ..Default::default()
    };
    let span = |t: u8, s: u8, parent: Option<u8>| Span {
        trace_id: vec![t; 16],
        span_id: vec![s; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: format!("op{s}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(s),
        end_time_unix_nano: 1_700_000_000_000_100_000,
        attributes: vec![
            attr::string("http.route", "/a"),
            attr::int("http.status_code", 200),
            KeyValue {
                key: "b".into(),
                value: Some(AnyValue {
                    value: Some(Value::BytesValue(vec![1, 2])),
                }),
                ..Default::default()
            },
            deep.clone(),
        ],
        events: vec![Event {
            name: "e".into(),
            attributes: vec![deep.clone()],
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![9; 8],
            attributes: vec![deep.clone()],
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr::string("service.name", "svc"), deep.clone()],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![span(1, 1, None), span(1, 2, Some(1)), span(2, 3, None)],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}
