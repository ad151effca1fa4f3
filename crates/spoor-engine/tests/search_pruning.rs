//! Search in blocks evaluates predicates column by column and decodes no span; these tests
//! prove it answers exactly what [`SpanMatcher`] answers on every decoded span, over random
//! data that puts tags in every place a tag can be (dedicated columns, generic attributes of
//! every type, resources, scopes, events, links, synthetic tags).

mod support;

use std::collections::BTreeSet;

use spoor_engine::Engine;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{ResourceSpans, ScopeSpans, Span, SpanRecord, Status, TraceId, attr};
use spoor_storage::{SpanMatcher, SpanReader, SpanWriter, TraceQuery};
use spoor_telemetry::Telemetry;
use support::workload::Rng;

const T0: u64 = 1_800_000_000_000_000_000;
const SERVICES: &[&str] = &["a", "b", "c"];
const OPS: &[&str] = &["x", "y", "z"];
/// Dedicated (string and int) keys, generic keys and a key only in resources.
const KEYS: &[&str] = &[
    "http.method",
    "http.status_code",
    "db.system",
    "k1",
    "k2",
    "tenant.id",
    "host",
];
const VALUES: &[&str] = &["v0", "v1", "200", "true", "1.5", "[\"v0\",\"v1\"]"];
const SYNTHETIC: &[(&str, &[&str])] = &[
    ("error", &["true"]),
    ("span.kind", &["server", "client", "internal"]),
    ("otel.status_code", &["OK", "ERROR"]),
    ("otel.status_description", &["boom", "v0"]),
    ("otel.scope.name", &["lib", "other"]),
    ("otel.scope.version", &["1.0"]),
];

fn pick<'a>(r: &mut Rng, from: &[&'a str]) -> &'a str {
    from[r.below(from.len() as u64) as usize]
}

/// A random value whose string form is usually one of [`VALUES`].
fn value(r: &mut Rng) -> Value {
    match r.below(7) {
        0 | 1 => Value::StringValue(pick(r, &["v0", "v1", "200", "true"]).to_string()),
        2 => Value::IntValue(200),
        3 => Value::BoolValue(true),
        4 => Value::DoubleValue(1.5),
        5 => Value::ArrayValue(ArrayValue {
            values: ["v0", "v1"]
                .iter()
                .map(|s| AnyValue {
                    value: Some(Value::StringValue((*s).to_string())),
                })
                .collect(),
        }),
        _ => Value::IntValue(r.below(3) as i64),
    }
}

fn attrs(r: &mut Rng, max: u64) -> Vec<KeyValue> {
    (0..r.below(max + 1))
        .map(|_| KeyValue {
            key: pick(r, KEYS).to_string(),
            value: Some(AnyValue {
                value: Some(value(r)),
            }),
            ..Default::default()
        })
        .collect()
}

fn random_trace(r: &mut Rng, n: u64) -> Vec<ResourceSpans> {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&r.next_u64().to_be_bytes());
    trace[8..].copy_from_slice(&n.to_be_bytes());
    let start = T0 + n * 1_000_000;
    (0..1 + r.below(4))
        .map(|s| {
            let mut resource_attrs = vec![attr::string("service.name", pick(r, SERVICES))];
            resource_attrs.extend(attrs(r, 1));
            let span_start = start + r.below(1000) * 1000;
            let span = Span {
                trace_id: trace.to_vec(),
                span_id: (n * 16 + s + 1).to_be_bytes().to_vec(),
                name: pick(r, OPS).to_string(),
                kind: r.below(6) as i32,
                start_time_unix_nano: span_start,
                end_time_unix_nano: span_start + r.below(1000) * 1_000_000,
                attributes: attrs(r, 5),
                events: (0..u64::from(r.below(4) == 0))
                    .map(|_| Event {
                        name: "ev".into(),
                        time_unix_nano: span_start,
                        attributes: attrs(r, 2),
                        ..Default::default()
                    })
                    .collect(),
                links: (0..u64::from(r.below(5) == 0))
                    .map(|_| Link {
                        trace_id: trace.to_vec(),
                        span_id: 7u64.to_be_bytes().to_vec(),
                        attributes: attrs(r, 2),
                        ..Default::default()
                    })
                    .collect(),
                status: match r.below(4) {
                    0 => Some(Status {
                        code: 2,
                        message: pick(r, &["boom", "v0", ""]).to_string(),
                    }),
                    1 => Some(Status {
                        code: 1,
                        message: String::new(),
                    }),
                    _ => None,
                },
                ..Default::default()
            };
            let scope = (r.below(3) > 0).then(|| InstrumentationScope {
                name: pick(r, &["lib", "other"]).to_string(),
                version: pick(r, &["1.0", ""]).to_string(),
                attributes: attrs(r, 1),
                ..Default::default()
            });
            ResourceSpans {
                resource: Some(Resource {
                    attributes: resource_attrs,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect()
}

fn random_query(r: &mut Rng) -> TraceQuery {
    let mut q = TraceQuery {
        limit: 100_000,
        ..TraceQuery::default()
    };
    if r.below(2) == 0 {
        q.service = Some(pick(r, SERVICES).to_string());
    }
    if r.below(4) == 0 {
        q.operation = Some(pick(r, OPS).to_string());
    }
    if r.below(5) == 0 {
        q.duration_min = Some(r.below(1000) * 1_000_000);
    }
    for _ in 0..1 + r.below(2) {
        if r.below(4) == 0 {
            let (k, vs) = SYNTHETIC[r.below(SYNTHETIC.len() as u64) as usize];
            q.attributes.push((k.to_string(), pick(r, vs).to_string()));
        } else {
            q.attributes
                .push((pick(r, KEYS).to_string(), pick(r, VALUES).to_string()));
        }
    }
    q
}

/// Trace ids with a span that the matcher accepts: the reference answer.
fn expected(records: &[(TraceId, SpanRecord)], q: &TraceQuery) -> BTreeSet<TraceId> {
    let m = SpanMatcher::new(q);
    records
        .iter()
        .filter(|(_, r)| m.matches(r))
        .map(|(id, _)| *id)
        .collect()
}

fn records_of(batch: &[ResourceSpans]) -> Vec<(TraceId, SpanRecord)> {
    let mut out = Vec::new();
    for rs in batch {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let id = TraceId::from_bytes(&s.trace_id).expect("trace id");
                out.push((
                    id,
                    SpanRecord {
                        resource: rs.resource.clone(),
                        scope: ss.scope.clone(),
                        span: s.clone(),
                    },
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn column_wise_search_answers_what_the_matcher_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    // Several row groups per block and several blocks.
    config.row_group_spans = 97;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut r = Rng::new(11);
    let mut records = Vec::new();
    for n in 0..1200u64 {
        let batch = random_trace(&mut r, n);
        records.extend(records_of(&batch));
        engine.write(batch).await.expect("write");
        if n % 400 == 399 {
            engine.flush().await.expect("flush");
        }
    }
    engine.flush().await.expect("flush");
    assert!(engine.manifest().blocks.len() >= 3, "spans are in blocks");
    let mut nonempty = 0;
    for _ in 0..300 {
        let q = random_query(&mut r);
        let want = expected(&records, &q);
        let got: BTreeSet<TraceId> = engine
            .find_trace_ids(&q)
            .await
            .expect("search")
            .into_iter()
            .collect();
        assert_eq!(got, want, "query {q:?}");
        nonempty += usize::from(!want.is_empty());
    }
    // The comparison is not vacuous: most queries find something.
    assert!(nonempty > 150, "only {nonempty} of 300 queries matched");
}

#[tokio::test]
async fn limited_search_returns_the_newest_matching_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.row_group_spans = 64;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut r = Rng::new(5);
    let mut records = Vec::new();
    for n in 0..900u64 {
        let batch = random_trace(&mut r, n);
        records.extend(records_of(&batch));
        engine.write(batch).await.expect("write");
        if n % 100 == 99 {
            engine.flush().await.expect("flush");
        }
    }
    for _ in 0..60 {
        let mut q = random_query(&mut r);
        q.limit = 1 + r.below(20) as usize;
        // The newest matching traces: by their earliest matching span, newest first.
        let m = SpanMatcher::new(&q);
        let mut starts: std::collections::HashMap<TraceId, u64> = Default::default();
        for (id, rec) in &records {
            if m.matches(rec) {
                let e = starts.entry(*id).or_insert(u64::MAX);
                *e = (*e).min(rec.span.start_time_unix_nano);
            }
        }
        let mut want: Vec<(u64, TraceId)> = starts.into_iter().map(|(id, s)| (s, id)).collect();
        want.sort_by(|a, b| b.cmp(a));
        want.truncate(q.limit);
        let want: Vec<TraceId> = want.into_iter().map(|(_, id)| id).collect();
        let got = engine.find_trace_ids(&q).await.expect("search");
        assert_eq!(got, want, "query {q:?}");
    }
}

/// Row groups are cut by time (newest-first search can stop inside a block) and every trace is
/// still found by id.
#[tokio::test]
async fn row_groups_cover_disjoint_time_ranges_and_every_trace_is_found_by_id() {
    use parquet::file::reader::FileReader as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.row_group_spans = 50;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut r = Rng::new(3);
    let mut ids = Vec::new();
    for n in 0..600u64 {
        let mut batch = random_trace(&mut r, n);
        // One span per trace, so a trace's start is its span's.
        batch.truncate(1);
        ids.push(TraceId::from_bytes(&batch[0].scope_spans[0].spans[0].trace_id).expect("id"));
        engine.write(batch).await.expect("write");
    }
    engine.flush().await.expect("flush");
    let blocks = engine.manifest().blocks.clone();
    assert_eq!(blocks.len(), 1);
    let path = dir
        .path()
        .join("store/blocks")
        .join(format!("{}.parquet", blocks[0].id));
    let file = std::fs::File::open(&path).expect("block file");
    let reader = parquet::file::reader::SerializedFileReader::new(file).expect("parquet");
    let md = reader.metadata();
    assert_eq!(md.num_row_groups(), 12);
    let start_col = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        // Format 3 stores each span's trace start (groups hold whole traces in start order).
        .position(|c| c.name() == "trace_start_unix_nano")
        .unwrap_or_else(|| {
            let names: Vec<String> = md
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .map(|c| c.path().string())
                .collect();
            panic!("no start column in {names:?}")
        });
    let mut ranges = Vec::new();
    for rg in md.row_groups() {
        let Some(parquet::file::statistics::Statistics::Int64(s)) =
            rg.column(start_col).statistics()
        else {
            panic!("no start statistics");
        };
        ranges.push((*s.min_opt().expect("min"), *s.max_opt().expect("max")));
    }
    for w in ranges.windows(2) {
        assert!(w[0].1 < w[1].0, "row groups overlap in time: {ranges:?}");
    }
    for id in ids {
        let t = engine
            .get_trace(id, None)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(t.resource_spans.len(), 1);
    }
}
