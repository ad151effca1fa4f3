//! Decode + translate-to-OTLP throughput of the legacy protocols, in spans per second.
//!
//! `cargo bench -p spoor-receivers --bench legacy_decode` (criterion, wall time), or
//! `cargo bench -p spoor-receivers --bench legacy_decode -- --cpu` (spans per CPU-second, which a
//! busy shared machine does not skew).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use prost::Message;
use spoor_receivers::jaeger_codec::{
    self as jaeger, JaegerBatch, JaegerLog, JaegerProcess, JaegerSpan, JaegerTag, Protocol,
    TagValue, api_v2,
};
use spoor_receivers::zipkin_codec::{self as zipkin, proto3};

/// A realistic server span: 8 tags of mixed types, one log with two fields.
fn jaeger_span(i: u64) -> JaegerSpan {
    let s = |k: &str, v: &str| JaegerTag::new(k, TagValue::Str(v.into()));
    JaegerSpan {
        trace_id: [7; 16],
        span_id: (i + 1).to_be_bytes(),
        parent_span_id: (i / 2 + 1).to_be_bytes(),
        operation_name: format!("GET /api/orders/{}", i % 10),
        flags: 1,
        start_unix_nano: 1_700_000_000_000_000_000 + i * 1000,
        duration_nano: 1_500_000,
        tags: vec![
            s("span.kind", "server"),
            s("http.method", "GET"),
            s(
                "http.url",
                "http://orders.internal:8080/api/orders/42?expand=items",
            ),
            JaegerTag::new("http.status_code", TagValue::Long(200)),
            s("component", "net/http"),
            s("peer.service", "checkout"),
            JaegerTag::new("retry", TagValue::Bool(false)),
            JaegerTag::new("ratio", TagValue::Double(0.25)),
        ],
        logs: vec![JaegerLog {
            timestamp_unix_nano: 1_700_000_000_000_500_000 + i * 1000,
            fields: vec![s("event", "cache miss"), s("key", "order:42")],
        }],
        ..Default::default()
    }
}

fn jaeger_batch(n: u64) -> JaegerBatch {
    JaegerBatch {
        process: Some(JaegerProcess {
            service_name: "orders".into(),
            tags: vec![
                JaegerTag::new("hostname", TagValue::Str("orders-7d9f".into())),
                JaegerTag::new("ip", TagValue::Str("10.1.2.3".into())),
                JaegerTag::new("jaeger.version", TagValue::Str("Go-2.30.0".into())),
            ],
        }),
        spans: (0..n).map(jaeger_span).collect(),
    }
}

fn jaeger_proto(n: u64) -> Vec<u8> {
    let kv = |t: &JaegerTag| {
        let mut kv = api_v2::KeyValue {
            key: t.key.clone(),
            ..Default::default()
        };
        match &t.value {
            TagValue::Str(s) => kv.v_str = s.clone(),
            TagValue::Long(n) => {
                kv.v_type = api_v2::ValueType::Int64 as i32;
                kv.v_int64 = *n;
            }
            TagValue::Bool(b) => {
                kv.v_type = api_v2::ValueType::Bool as i32;
                kv.v_bool = *b;
            }
            TagValue::Double(d) => {
                kv.v_type = api_v2::ValueType::Float64 as i32;
                kv.v_float64 = *d;
            }
            TagValue::Binary(b) => {
                kv.v_type = api_v2::ValueType::Binary as i32;
                kv.v_binary = b.clone();
            }
        }
        kv
    };
    let batch = jaeger_batch(n);
    api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            process: batch.process.map(|p| api_v2::Process {
                service_name: p.service_name,
                tags: p.tags.iter().map(kv).collect(),
            }),
            spans: batch
                .spans
                .iter()
                .map(|s| api_v2::Span {
                    trace_id: s.trace_id.to_vec(),
                    span_id: s.span_id.to_vec(),
                    operation_name: s.operation_name.clone(),
                    references: vec![api_v2::SpanRef {
                        trace_id: s.trace_id.to_vec(),
                        span_id: s.parent_span_id.to_vec(),
                        ref_type: 0,
                    }],
                    flags: 1,
                    start_time: Some(prost_types_timestamp(s.start_unix_nano)),
                    duration: None,
                    tags: s.tags.iter().map(kv).collect(),
                    logs: s
                        .logs
                        .iter()
                        .map(|l| api_v2::Log {
                            timestamp: Some(prost_types_timestamp(l.timestamp_unix_nano)),
                            fields: l.fields.iter().map(kv).collect(),
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }),
    }
    .encode_to_vec()
}

fn prost_types_timestamp(nanos: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn zipkin_v2_json(n: u64) -> Vec<u8> {
    let spans: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"traceId":"0707070707070707070707070707070{}","id":"{:016x}","parentId":"{:016x}",
"kind":"SERVER","name":"get /api/orders/{}","timestamp":{},"duration":1500,
"localEndpoint":{{"serviceName":"orders","ipv4":"10.1.2.3","port":8080}},
"remoteEndpoint":{{"serviceName":"checkout","ipv4":"10.1.2.4"}},
"annotations":[{{"timestamp":{},"value":"cache miss"}}],
"tags":{{"http.method":"GET","http.path":"/api/orders/42","http.status_code":"200",
"component":"net/http","otel.library.name":"lib","retry":"false"}}}}"#,
                i % 10,
                i + 1,
                i / 2 + 1,
                i % 10,
                1_700_000_000_000_000u64 + i,
                1_700_000_000_000_500u64 + i
            )
        })
        .collect();
    format!("[{}]", spans.join(",")).into_bytes()
}

fn zipkin_v1_json(n: u64) -> Vec<u8> {
    let spans: Vec<String> = (0..n)
        .map(|i| {
            let ts = 1_700_000_000_000_000u64 + i;
            format!(
                r#"{{"traceId":"070707070707070{}","id":"{:016x}","parentId":"{:016x}","name":"get",
"timestamp":{ts},"duration":1500,"annotations":[
{{"timestamp":{ts},"value":"sr","endpoint":{{"serviceName":"orders","ipv4":"10.1.2.3"}}}},
{{"timestamp":{},"value":"ss","endpoint":{{"serviceName":"orders","ipv4":"10.1.2.3"}}}}],
"binaryAnnotations":[{{"key":"http.path","value":"/api/orders/42","endpoint":{{"serviceName":"orders"}}}},
{{"key":"ca","value":true,"endpoint":{{"serviceName":"checkout","ipv4":"10.1.2.4"}}}}]}}"#,
                i % 10,
                i + 1,
                i / 2 + 1,
                ts + 1500
            )
        })
        .collect();
    format!("[{}]", spans.join(",")).into_bytes()
}

fn zipkin_proto(n: u64) -> Vec<u8> {
    let endpoint = |name: &str| proto3::Endpoint {
        service_name: name.into(),
        ipv4: vec![10, 1, 2, 3],
        ipv6: vec![],
        port: 8080,
    };
    proto3::ListOfSpans {
        spans: (0..n)
            .map(|i| proto3::Span {
                trace_id: vec![7; 16],
                id: (i + 1).to_be_bytes().to_vec(),
                parent_id: (i / 2 + 1).to_be_bytes().to_vec(),
                kind: 2,
                name: format!("get /api/orders/{}", i % 10),
                timestamp: 1_700_000_000_000_000 + i,
                duration: 1500,
                local_endpoint: Some(endpoint("orders")),
                remote_endpoint: Some(endpoint("checkout")),
                annotations: vec![proto3::Annotation {
                    timestamp: 1_700_000_000_000_500 + i,
                    value: "cache miss".into(),
                }],
                tags: [
                    ("http.method", "GET"),
                    ("http.path", "/api/orders/42"),
                    ("http.status_code", "200"),
                    ("component", "net/http"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

fn zipkin_thrift(n: u64) -> Vec<u8> {
    let spans: Vec<zipkin::V1ThriftSpan<'_>> = (0..n as i64)
        .map(|i| {
            let ts = 1_700_000_000_000_000 + i;
            (
                7,
                i + 1,
                Some(i / 2 + 1),
                "get /api/orders",
                ts,
                1500,
                vec![(ts, "sr", "orders"), (ts + 1500, "ss", "orders")],
            )
        })
        .collect();
    zipkin::encode_v1_thrift(&spans)
}

/// (name, spans in the payload, payload, decode + translate).
type Case = (&'static str, u64, Vec<u8>, fn(&[u8]) -> usize);

fn cases() -> Vec<Case> {
    // UDP datagrams carry tens of spans; HTTP/gRPC bodies hundreds.
    let udp = jaeger_batch(40);
    let http = jaeger_batch(500);
    vec![
        (
            "jaeger_thrift_compact_udp",
            40,
            jaeger::encode_agent_message(&udp, Protocol::Compact, 1),
            |b| {
                let batch = jaeger::decode_agent_message(b, Protocol::Compact).expect("decode");
                jaeger::batch_to_otlp(batch).len()
            },
        ),
        (
            "jaeger_thrift_binary_udp",
            40,
            jaeger::encode_agent_message(&udp, Protocol::Binary, 1),
            |b| {
                let batch = jaeger::decode_agent_message(b, Protocol::Binary).expect("decode");
                jaeger::batch_to_otlp(batch).len()
            },
        ),
        (
            "jaeger_thrift_http",
            500,
            jaeger::encode_batch(&http, Protocol::Binary),
            |b| {
                let batch = jaeger::decode_batch(b, Protocol::Binary).expect("decode");
                jaeger::batch_to_otlp(batch).len()
            },
        ),
        ("jaeger_grpc_proto", 500, jaeger_proto(500), |b| {
            let request = api_v2::PostSpansRequest::decode(b).expect("decode");
            let batch = jaeger::batch_from_proto(request.batch.unwrap_or_default()).expect("ids");
            jaeger::batch_to_otlp(batch).len()
        }),
        ("zipkin_v2_json", 500, zipkin_v2_json(500), |b| {
            zipkin::spans_to_otlp(zipkin::decode_v2_json(b).expect("decode")).len()
        }),
        ("zipkin_v1_json", 500, zipkin_v1_json(500), |b| {
            zipkin::spans_to_otlp(zipkin::decode_v1_json(b).expect("decode")).len()
        }),
        ("zipkin_v2_proto", 500, zipkin_proto(500), |b| {
            zipkin::spans_to_otlp(zipkin::decode_v2_proto(b).expect("decode")).len()
        }),
        ("zipkin_v1_thrift", 500, zipkin_thrift(500), |b| {
            zipkin::spans_to_otlp(zipkin::decode_v1_thrift(b).expect("decode")).len()
        }),
    ]
}

/// This thread's on-CPU time (Linux `schedstat`), so a figure is not skewed by other load on a
/// shared machine; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Spans per second of CPU time, each case run for about a second of CPU.
fn cpu_throughput() {
    for (name, spans, payload, run) in cases() {
        let Some(start) = cpu_time() else { return };
        let mut done = 0u64;
        while cpu_time().is_none_or(|t| t - start < Duration::from_secs(1)) {
            for _ in 0..10 {
                std::hint::black_box(run(std::hint::black_box(&payload)));
            }
            done += 10 * spans;
        }
        let cpu = cpu_time().map_or(1.0, |t| (t - start).as_secs_f64());
        println!(
            "cpu-throughput {name}: {:.0} spans per CPU-second ({} bytes per {spans} spans)",
            done as f64 / cpu,
            payload.len()
        );
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_translate");
    for (name, spans, payload, run) in cases() {
        assert!(run(&payload) > 0, "{name} decodes");
        group.throughput(Throughput::Elements(spans));
        group.bench_function(format!("{name}/{spans}spans/{}B", payload.len()), |b| {
            b.iter(|| run(std::hint::black_box(&payload)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if std::env::args().any(|a| a == "--cpu") {
        cpu_throughput();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
