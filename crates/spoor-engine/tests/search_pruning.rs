//! A scan in blocks evaluates the request's neutral predicates column by column and decodes no
//! span; these tests prove it answers exactly what [`ScanRequest::matches_parts`] (the
//! contract's reference) answers on every decoded span, over random data that puts attributes
//! in every place one can be (dedicated columns, generic attributes of every type, resources,
//! scopes, events, links) and random predicates of every kind (text, regex, range, status,
//! kind, status message, scope name and version, any-of, trace-id sets).

mod support;

use std::collections::BTreeSet;

use regex::Regex;
use spoor_engine::Engine;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{ResourceSpans, ScopeSpans, Span, SpanRecord, Status, TraceId, attr};
use spoor_storage::{AttrScope, ScanRequest, SpanPredicate, SpanReader, SpanWriter, ValueMatch};
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

fn random_value_match(r: &mut Rng) -> ValueMatch {
    match r.below(6) {
        0 => ValueMatch::Regex(
            Regex::new(pick(r, &["^v.$", "^2", "^(true|1\\.5)$", "v1"])).expect("regex"),
        ),
        1 => ValueMatch::Range {
            min: (r.below(2) == 0).then(|| r.below(3) as f64),
            max: (r.below(2) == 0).then(|| [1.0, 1.5, 200.0][r.below(3) as usize]),
        },
        _ => ValueMatch::Text(pick(r, VALUES).to_string()),
    }
}

fn random_predicate(r: &mut Rng, depth: u32) -> SpanPredicate {
    match r.below(if depth == 0 { 9 } else { 8 }) {
        0 => SpanPredicate::Status(r.below(3) as i32),
        1 => SpanPredicate::Kind(r.below(6) as i32),
        2 => SpanPredicate::StatusMessage(pick(r, &["boom", "v0", ""]).to_string()),
        3 => SpanPredicate::ScopeName(pick(r, &["lib", "other", ""]).to_string()),
        4 => SpanPredicate::ScopeVersion(pick(r, &["1.0", ""]).to_string()),
        8 => SpanPredicate::AnyOf(
            (0..r.below(3))
                .map(|_| random_predicate(r, depth + 1))
                .collect(),
        ),
        _ => {
            let mut scopes: Vec<AttrScope> = AttrScope::ALL
                .into_iter()
                .filter(|_| r.below(3) > 0)
                .collect();
            if scopes.is_empty() {
                scopes.push(AttrScope::Span);
            }
            SpanPredicate::Attribute {
                scopes,
                key: pick(r, KEYS).to_string(),
                value: random_value_match(r),
            }
        }
    }
}

fn random_query(r: &mut Rng) -> ScanRequest {
    let mut q = ScanRequest {
        limit: 100_000,
        ..ScanRequest::default()
    };
    if r.below(2) == 0 {
        q.service = Some(pick(r, SERVICES).to_string());
    }
    if r.below(4) == 0 {
        q.span_name = Some(pick(r, OPS).to_string());
    }
    if r.below(5) == 0 {
        q.duration_min = Some(r.below(1000) * 1_000_000);
    }
    for _ in 0..r.below(3) {
        q.predicates.push(random_predicate(r, 0));
    }
    q
}

/// Trace ids with a span that the contract's reference accepts.
fn expected(records: &[(TraceId, SpanRecord)], q: &ScanRequest) -> BTreeSet<TraceId> {
    records
        .iter()
        .filter(|(id, r)| q.allows_trace(id) && q.matches(r))
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
async fn column_wise_scan_answers_what_the_contract_reference_answers() {
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
    for k in 0..300 {
        let mut q = random_query(&mut r);
        if k % 10 == 0 {
            // A trace-id set: some ids stored, one not.
            let mut ids: Vec<TraceId> = (0..5)
                .map(|_| records[r.below(records.len() as u64) as usize].0)
                .collect();
            ids.push(TraceId([9; 16]));
            q.trace_ids = Some(ids);
        }
        let want = expected(&records, &q);
        let got: BTreeSet<TraceId> = engine
            .scan_ids(&q)
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
        let mut starts: std::collections::HashMap<TraceId, u64> = Default::default();
        for (id, rec) in &records {
            if q.matches(rec) {
                let e = starts.entry(*id).or_insert(u64::MAX);
                *e = (*e).min(rec.span.start_time_unix_nano);
            }
        }
        let mut want: Vec<(u64, TraceId)> = starts.into_iter().map(|(id, s)| (s, id)).collect();
        want.sort_by(|a, b| b.cmp(a));
        want.truncate(q.limit);
        let want: Vec<TraceId> = want.into_iter().map(|(_, id)| id).collect();
        let got = engine.scan_ids(&q).await.expect("search");
        assert_eq!(got, want, "query {q:?}");
    }
}

/// Every fourth trace lasts up to 300 ms (its spans start as late as 300 newer traces), so row
/// groups overlap in time: the search reads what starts after the `limit`-th trace it has found
/// only, and must still rank a long trace by its earliest matching span, not by the late ones.
#[tokio::test]
async fn limited_search_over_overlapping_row_groups_ranks_by_the_earliest_matching_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.row_group_spans = 64;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut r = Rng::new(11);
    let mut records = Vec::new();
    for n in 0..900u64 {
        let mut batch = random_trace(&mut r, n);
        if n % 4 == 0 {
            for rs in &mut batch {
                for ss in &mut rs.scope_spans {
                    for span in &mut ss.spans {
                        let late = r.below(300) * 1_000_000;
                        span.start_time_unix_nano += late;
                        span.end_time_unix_nano += late;
                    }
                }
            }
        }
        records.extend(records_of(&batch));
        engine.write(batch).await.expect("write");
        if n % 300 == 299 {
            engine.flush().await.expect("flush");
        }
    }
    let mut narrowed = 0;
    for _ in 0..80 {
        let mut q = random_query(&mut r);
        q.limit = 1 + r.below(20) as usize;
        let mut starts: std::collections::HashMap<TraceId, u64> = Default::default();
        for (id, rec) in &records {
            if q.matches(rec) {
                let e = starts.entry(*id).or_insert(u64::MAX);
                *e = (*e).min(rec.span.start_time_unix_nano);
            }
        }
        narrowed += usize::from(starts.len() > q.limit);
        let mut want: Vec<(u64, TraceId)> = starts.into_iter().map(|(id, s)| (s, id)).collect();
        want.sort_by(|a, b| b.cmp(a));
        want.truncate(q.limit);
        let want: Vec<TraceId> = want.into_iter().map(|(_, id)| id).collect();
        let got = engine.scan_ids(&q).await.expect("search");
        assert_eq!(got, want, "query {q:?}");
    }
    assert!(
        narrowed > 40,
        "only {narrowed} queries had more matches than their limit"
    );
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
