//! Property test of the block encoding: random spans that use every field (ids, parents in
//! and outside the block, trace state, flags, kinds, extreme start times and durations, every
//! attribute type including dedicated keys with the wrong type and repeated keys, events,
//! links, dropped counts, status, resources and scopes) come back from a cut block and from a
//! compacted block exactly as they were written, for many seeds.

mod support;

use std::time::Duration;

use spoor_engine::Engine;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, TraceId};
use spoor_storage::{SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::workload::Rng;

const KEYS: &[&str] = &[
    "http.request.method",
    "http.response.status_code",
    "http.route",
    "db.statement",
    "rpc.grpc.status_code",
    "server.port",
    "tenant.id",
    "user.id",
    "retry",
    "ratio",
    "blob",
    "tags",
    "",
];

/// A number below 2^(0..bits), so that small and large values are both common.
fn spread(rng: &mut Rng, bits: u64) -> u64 {
    let b = rng.below(bits);
    rng.below(1 << b)
}

fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.below(256) as u8).collect()
}

fn text(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "a",
        "GET",
        "/pay",
        "ünïcödé",
        "x y",
        "",
        "t-0042",
        "SELECT 1",
    ];
    let n = rng.below(3) + 1;
    (0..n)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn value(rng: &mut Rng, depth: u32) -> Option<Value> {
    let top = if depth > 1 { 5 } else { 8 };
    Some(match rng.below(top) {
        0 => Value::StringValue(text(rng)),
        1 => Value::BoolValue(rng.below(2) == 1),
        2 => Value::IntValue(match rng.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => rng.next_u64() as i64 >> rng.below(64),
        }),
        3 => Value::DoubleValue(match rng.below(4) {
            0 => -0.0,
            1 => f64::MAX,
            _ => (rng.unit() - 0.5) * 1e6,
        }),
        4 => {
            let n = rng.below(5) as usize;
            Value::BytesValue(bytes(rng, n))
        }
        5 => Value::ArrayValue(ArrayValue {
            values: (0..rng.below(3))
                .map(|_| AnyValue {
                    value: value(rng, depth + 1),
                })
                .collect(),
        }),
        6 => Value::KvlistValue(KeyValueList {
            values: (0..rng.below(3)).map(|_| kv(rng, depth + 1)).collect(),
        }),
        _ => return None,
    })
}

fn kv(rng: &mut Rng, depth: u32) -> KeyValue {
    KeyValue {
        key: KEYS[rng.below(KEYS.len() as u64) as usize].to_string(),
        value: Some(AnyValue {
            value: value(rng, depth),
        }),
        ..Default::default()
    }
}

fn attrs(rng: &mut Rng) -> Vec<KeyValue> {
    (0..rng.below(8)).map(|_| kv(rng, 0)).collect()
}

fn nonzero(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut b = bytes(rng, n);
    b[0] |= 1;
    b
}

/// One trace of 1–30 spans in 1–3 resources.
fn trace(rng: &mut Rng) -> Vec<ResourceSpans> {
    let trace_id = nonzero(rng, 16);
    let base = match rng.below(4) {
        0 => 0,
        1 => i64::MAX as u64 - (1 << 40),
        _ => 1_700_000_000_000_000_000 + rng.below(1 << 40),
    };
    let n = rng.below(30) + 1;
    let mut ids: Vec<Vec<u8>> = Vec::new();
    let mut resources: Vec<ResourceSpans> = (0..rng.below(3) + 1)
        .map(|r| ResourceSpans {
            resource: (rng.below(5) > 0).then(|| Resource {
                attributes: vec![
                    spoor_model::attr::string("service.name", format!("svc-{r}")),
                    kv(rng, 0),
                ],
                dropped_attributes_count: rng.below(3) as u32,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: (rng.below(3) > 0).then(|| InstrumentationScope {
                    name: text(rng),
                    version: text(rng),
                    attributes: attrs(rng),
                    dropped_attributes_count: 0,
                }),
                spans: Vec::new(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    for _ in 0..n {
        let span_id = nonzero(rng, 8);
        let parent_span_id = match rng.below(4) {
            0 => Vec::new(),
            1 => nonzero(rng, 8),
            _ if !ids.is_empty() => ids[rng.below(ids.len() as u64) as usize].clone(),
            _ => Vec::new(),
        };
        ids.push(span_id.clone());
        let start = base + spread(rng, 40);
        let end = match rng.below(6) {
            0 => start,
            1 => start.saturating_sub(rng.below(1000)),
            _ => start + spread(rng, 40),
        };
        let span = Span {
            trace_id: trace_id.clone(),
            span_id,
            trace_state: if rng.below(4) == 0 {
                text(rng)
            } else {
                String::new()
            },
            parent_span_id,
            flags: if rng.below(2) == 0 {
                0
            } else {
                rng.next_u64() as u32
            },
            name: text(rng),
            kind: rng.below(6) as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: attrs(rng),
            dropped_attributes_count: rng.below(3) as u32,
            events: (0..rng.below(3))
                .map(|_| Event {
                    time_unix_nano: start + rng.below(1000),
                    name: text(rng),
                    attributes: attrs(rng),
                    dropped_attributes_count: rng.below(2) as u32,
                })
                .collect(),
            dropped_events_count: rng.below(2) as u32,
            links: (0..rng.below(2))
                .map(|_| Link {
                    trace_id: nonzero(rng, 16),
                    span_id: nonzero(rng, 8),
                    trace_state: text(rng),
                    attributes: attrs(rng),
                    dropped_attributes_count: 0,
                    flags: rng.below(2) as u32,
                })
                .collect(),
            dropped_links_count: rng.below(2) as u32,
            status: match rng.below(3) {
                0 => None,
                _ => Some(Status {
                    message: text(rng),
                    code: rng.below(3) as i32,
                })
                .filter(|s| s.code != 0 || !s.message.is_empty()),
            },
        };
        let r = rng.below(resources.len() as u64) as usize;
        resources[r].scope_spans[0].spans.push(span);
    }
    resources.retain(|r| !r.scope_spans[0].spans.is_empty());
    resources
}

/// Every span with its resource and scope, attributes in a canonical order, by span id.
fn normalize(rs: &[ResourceSpans]) -> Vec<String> {
    let sorted = |a: &[KeyValue]| {
        let mut v: Vec<String> = a.iter().map(|kv| format!("{kv:?}")).collect();
        v.sort();
        v
    };
    let mut out = Vec::new();
    for r in rs {
        for ss in &r.scope_spans {
            for s in &ss.spans {
                let mut s = s.clone();
                let attributes = sorted(&s.attributes);
                s.attributes.clear();
                out.push(format!(
                    "{:?} | {:?} | {s:?} | {attributes:?}",
                    r.resource
                        .as_ref()
                        .map(|r| (sorted(&r.attributes), r.dropped_attributes_count)),
                    ss.scope
                ));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_span_field_survives_cut_and_compaction() {
    for seed in 0..12u64 {
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = support::config(dir.path());
        config.row_group_spans = 1 + rng.below(200) as usize;
        config.compaction.target_block_bytes = u64::MAX;
        config.compaction.max_input_bytes = u64::MAX;
        config.compaction.window = Duration::from_secs(u64::MAX / 1_000_000_000);
        config.retention = Duration::from_secs(u64::MAX / 4_000_000_000);
        let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
        let traces: Vec<Vec<ResourceSpans>> = (0..20).map(|_| trace(&mut rng)).collect();
        for (i, t) in traces.iter().enumerate() {
            engine.write(t.clone()).await.expect("write");
            if i == 9 {
                engine.flush().await.expect("flush");
            }
        }
        engine.flush().await.expect("flush");
        for phase in ["cut", "compacted"] {
            for t in &traces {
                let id = TraceId::from_bytes(&t[0].scope_spans[0].spans[0].trace_id).expect("id");
                let got = engine
                    .get_trace(id, None)
                    .await
                    .expect("get")
                    .expect("trace found");
                assert_eq!(
                    normalize(&got.resource_spans),
                    normalize(t),
                    "seed {seed}, {phase}, trace {id}"
                );
            }
            if phase == "cut" {
                for _ in 0..10 {
                    if engine.manifest().blocks.len() <= 1 {
                        break;
                    }
                    engine.maintain().await.expect("compact");
                }
                assert_eq!(
                    engine.manifest().blocks.len(),
                    1,
                    "compacted into one block"
                );
            }
        }
        engine.shutdown().await.expect("shutdown");
    }
}
