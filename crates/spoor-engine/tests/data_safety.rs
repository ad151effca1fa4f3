//! Failing safe (issue 8, storage side): no stored value makes other data unreadable, a row
//! that does not decode costs that row only, damaged or missing manifests and blocks never
//! cost other blocks, damaged WAL segments are scanned for every intact record, one process
//! per data dir, and reads racing cuts and compactions miss nothing acknowledged.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue as ParquetKv;
use parquet::file::properties::WriterProperties;
use spoor_engine::{Engine, Manifest};
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use spoor_model::otlp_trace::span::Event;
use spoor_storage::{ScanRequest, SpanPredicate, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{span, tid};

const T0: u64 = 1_800_000_000_000_000_000;

/// An `AnyValue` nested `depth` levels deep: arrays, or arrays alternating with key-value
/// lists (three messages per two levels more).
fn nested(depth: usize, kvlists: bool) -> AnyValue {
    let mut v = AnyValue {
        value: Some(Value::StringValue("bottom".into())),
    };
    for i in 0..depth {
        v = AnyValue {
            value: Some(if i % 2 == 0 || !kvlists {
                Value::ArrayValue(ArrayValue { values: vec![v] })
            } else {
                Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".into(),
                        value: Some(v),
                        ..Default::default()
                    }],
                })
            }),
        };
    }
    v
}

/// The span the issue describes: a deep value as a span attribute, an event attribute and
/// a resource attribute.
fn deep_span(trace: u64, depth: usize, kvlists: bool) -> Vec<spoor_model::ResourceSpans> {
    let deep = KeyValue {
        key: "deep".into(),
        value: Some(nested(depth, kvlists)),
        ..Default::default()
    };
    let mut batch = span(
        "attacker",
        "deep",
        trace,
        1,
        None,
        T0 + trace,
        10,
        vec![deep.clone()],
    );
    if let Some(r) = batch[0].resource.as_mut() {
        r.attributes.push(deep.clone());
    }
    batch[0].scope_spans[0].spans[0].events.push(Event {
        time_unix_nano: T0 + trace,
        name: "e".into(),
        attributes: vec![deep],
        dropped_attributes_count: 0,
    });
    batch
}

async fn write_traces(engine: &Engine, from: u64, to: u64) {
    for t in from..to {
        engine
            .write(span("svc", "op", t, 1, None, T0 + t, 10, vec![]))
            .await
            .expect("write");
    }
}

async fn readable(engine: &Engine, from: u64, to: u64) -> usize {
    let mut n = 0;
    for t in from..to {
        if engine.get_trace(tid(t), None).await.expect("get").is_some() {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn a_deeply_nested_value_is_stored_and_read_back_next_to_other_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), T0);
    config.compaction.min_blocks = 2;
    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    write_traces(&engine, 1, 26).await;
    // 45 levels of arrays: what the protobuf decoder at ingest lets through (the v1 JSON
    // could not), and 36 levels mixing key-value lists (about as many messages).
    engine
        .write(deep_span(1000, 45, false))
        .await
        .expect("write deep");
    engine
        .write(deep_span(1001, 36, true))
        .await
        .expect("write deep");
    write_traces(&engine, 26, 51).await;
    engine.flush().await.expect("cut 1");
    write_traces(&engine, 51, 60).await;
    engine.flush().await.expect("cut 2");
    engine.maintain().await.expect("compact");
    assert_eq!(
        engine.manifest().blocks.len(),
        1,
        "compacted into one block"
    );
    assert_eq!(readable(&engine, 1, 60).await, 59, "every other trace");
    for (t, depth, kvlists) in [(1000, 45, false), (1001, 36, true)] {
        let got = engine
            .get_trace(tid(t), None)
            .await
            .expect("get deep")
            .expect("the deep trace itself");
        assert_eq!(
            got.resource_spans,
            deep_span(t, depth, kvlists),
            "exact round trip"
        );
    }
    let q = ScanRequest {
        service: Some("attacker".into()),
        predicates: vec![SpanPredicate::text_anywhere("deep", "no-match")],
        ..ScanRequest::default()
    };
    assert!(engine.scan_ids(&q).await.expect("search").is_empty());
    let metrics = telemetry.render();
    assert!(
        metrics.contains("spoor_engine_corrupt_blocks_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spoor_engine_undecodable_rows_total 0"),
        "{metrics}"
    );
    engine.shutdown().await.expect("shutdown");
    let report = spoor_engine::verify(&config).await.expect("verify");
    assert!(
        report.is_ok() && report.orphan_blocks.is_empty(),
        "retired inputs are deleted by shutdown: {report:?}"
    );
}

/// Rewrites block `id` under `store` with `f` applied to every batch (keeping the key-value
/// metadata), and commits a manifest version with the new size and checksum.
fn rewrite_block(store: &Path, id: &str, f: impl Fn(RecordBatch) -> RecordBatch) {
    let path = store.join("blocks").join(format!("{id}.parquet"));
    let bytes = bytes::Bytes::from(std::fs::read(&path).expect("read block"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("parquet");
    let kv: Vec<ParquetKv> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| kv.key.starts_with("spoor."))
        .collect();
    let batches: Vec<RecordBatch> = builder
        .build()
        .expect("reader")
        .map(|b| f(b.expect("batch")))
        .collect();
    let schema = batches.first().expect("a batch").schema();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let mut out = Vec::new();
    {
        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).expect("writer");
        for b in &batches {
            w.write(b).expect("write");
        }
        w.close().expect("close");
    }
    std::fs::write(&path, &out).expect("write block");
    let mut versions: Vec<_> = std::fs::read_dir(store.join("manifest"))
        .expect("manifests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    let newest = versions.last().expect("a manifest");
    let mut m: Manifest =
        serde_json::from_slice(&std::fs::read(newest).expect("read")).expect("parse");
    for b in &mut m.blocks {
        if b.id == id {
            b.size_bytes = out.len() as u64;
            b.crc32c = crc32c::crc32c(&out);
        }
    }
    m.version += 1;
    std::fs::write(
        store
            .join("manifest")
            .join(format!("{:020}.json", m.version)),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("write manifest");
}

fn without_columns(batch: RecordBatch, drop: &[&str]) -> RecordBatch {
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|i| !drop.contains(&batch.schema().field(*i).name().as_str()))
        .collect();
    batch.project(&keep).expect("project")
}

#[tokio::test]
async fn a_row_that_does_not_decode_costs_that_row_not_the_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _clock) = support::config_with_clock(dir.path(), T0);
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for t in 1..=50 {
        let mut batch = span("svc", "op", t, 1, None, T0 + t, 10, vec![]);
        batch[0].scope_spans[0].spans[0].events.push(Event {
            name: format!("e{t}"),
            ..Default::default()
        });
        engine.write(batch).await.expect("write");
    }
    engine.flush().await.expect("flush");
    let id = engine.manifest().blocks[0].id.clone();
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    // Garble the events of trace 7's row: its protobuf no longer decodes.
    rewrite_block(&dir.path().join("store"), &id, |batch| {
        let i = batch.schema().index_of("events").expect("events column");
        let ids = batch
            .column_by_name("trace_id")
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow_array::FixedSizeBinaryArray>()
                    .cloned()
            })
            .expect("trace ids");
        let events = batch
            .column(i)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .expect("binary events")
            .clone();
        let garbled: BinaryArray = (0..events.len())
            .map(|r| {
                if ids.value(r) == tid(7).0 {
                    Some(&[0xff_u8, 0xff, 0xff][..])
                } else {
                    (!events.is_null(r)).then(|| events.value(r))
                }
            })
            .collect();
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        cols[i] = Arc::new(garbled);
        RecordBatch::try_new(batch.schema(), cols).expect("batch")
    });

    let telemetry = Telemetry::new();
    let mut config = config;
    config.compaction.min_blocks = 2;
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("reopen");
    assert!(
        engine
            .get_trace(tid(7), None)
            .await
            .expect("get 7")
            .is_none()
    );
    assert_eq!(
        readable(&engine, 1, 51).await,
        49,
        "all but the damaged row"
    );
    // Compaction carries the rest over and keeps the damaged input in quarantine/.
    write_traces(&engine, 100, 101).await;
    engine.flush().await.expect("flush");
    engine.maintain().await.expect("compact");
    assert_eq!(engine.manifest().blocks.len(), 1);
    assert_eq!(readable(&engine, 1, 51).await, 49);
    let q = dir
        .path()
        .join("store/quarantine")
        .join(format!("{id}.parquet"));
    assert!(q.exists(), "the damaged input is kept");
    let metrics = telemetry.render();
    assert!(
        metrics.contains("spoor_engine_corrupt_blocks_total 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("spoor_engine_undecodable_rows_total 0"),
        "{metrics}"
    );
    engine.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_block_written_before_a_column_existed_is_still_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _clock) = support::config_with_clock(dir.path(), T0);
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for t in 1..=20u64 {
        let attrs = vec![
            spoor_model::attr::string("http.route", "/r"),
            spoor_model::attr::string("user", format!("u{t}")),
        ];
        engine
            .write(span("svc", "op", t, 1, None, T0 + t, 10, attrs))
            .await
            .expect("write");
    }
    engine.flush().await.expect("flush");
    let id = engine.manifest().blocks[0].id.clone();
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    // As an older writer would have written it: without columns this version added.
    let dropped = [
        "http_route",
        "attributes_bool",
        "links",
        "dropped_counts",
        "trace_state",
    ];
    rewrite_block(&dir.path().join("store"), &id, |b| {
        without_columns(b, &dropped)
    });

    let telemetry = Telemetry::new();
    let engine = Engine::open(config, &telemetry).await.expect("reopen");
    assert_eq!(readable(&engine, 1, 21).await, 20, "every trace served");
    let t = engine
        .get_trace(tid(3), None)
        .await
        .expect("get")
        .expect("trace 3");
    let span = &t.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        span.attributes,
        vec![spoor_model::attr::string("user", "u3")]
    );
    let q = ScanRequest {
        predicates: vec![SpanPredicate::text_anywhere("user", "u5")],
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&q).await.expect("search"), vec![tid(5)]);
    let q = ScanRequest {
        predicates: vec![SpanPredicate::text_anywhere("http.route", "/r")],
        ..ScanRequest::default()
    };
    assert!(engine.scan_ids(&q).await.expect("search").is_empty());
    assert_eq!(engine.manifest().blocks.len(), 1, "not quarantined");
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_corrupt_blocks_total 0")
    );
}

fn block_files(store: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["blocks", "quarantine"] {
        if let Ok(rd) = std::fs::read_dir(store.join(sub)) {
            out.extend(
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".parquet")),
            );
        }
    }
    out.sort();
    out
}

fn manifests(store: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(store.join("manifest"))
        .expect("manifests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    v
}

/// Three blocks (traces 1–30), one compaction, one more block (31–40), 41–50 in the WAL.
async fn populated(dir: &Path) -> spoor_engine::EngineConfig {
    let (mut config, _clock) = support::config_with_clock(dir, T0);
    config.orphan_grace = Duration::ZERO;
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for (from, to) in [(1, 11), (11, 21), (21, 31)] {
        write_traces(&engine, from, to).await;
        engine.flush().await.expect("flush");
    }
    engine.maintain().await.expect("compact");
    write_traces(&engine, 31, 41).await;
    engine.flush().await.expect("flush");
    write_traces(&engine, 41, 51).await;
    drop(engine); // 41–50 only in the WAL
    config
}

#[tokio::test]
async fn a_truncated_newest_manifest_loses_and_deletes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = populated(dir.path()).await;
    let store = dir.path().join("store");
    let files = block_files(&store);
    let newest = manifests(&store).pop().expect("manifest");
    let bytes = std::fs::read(&newest).expect("read");
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).expect("truncate");

    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    assert!(engine.recovery().repair.rebuilt, "{:?}", engine.recovery());
    assert_eq!(readable(&engine, 1, 51).await, 50);
    for f in &files {
        assert!(block_files(&store).contains(f), "{f} still present");
    }
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("restart");
    assert_eq!(readable(&engine, 1, 51).await, 50, "across restarts");
}

#[tokio::test]
async fn every_manifest_garbled_rebuilds_from_the_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = populated(dir.path()).await;
    let store = dir.path().join("store");
    let files = block_files(&store);
    for m in manifests(&store) {
        std::fs::write(&m, b"{\"version\": garbage").expect("garble");
    }
    let dry = spoor_engine::repair(&config, true).await.expect("dry run");
    assert!(dry.rebuilt && dry.blocks_recovered.len() == 2, "{dry:?}");
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    assert_eq!(readable(&engine, 1, 51).await, 50);
    assert_eq!(
        engine.manifest().blocks.len(),
        2,
        "the compacted block and the last cut"
    );
    for f in &files {
        assert!(block_files(&store).contains(f), "{f} still present");
    }
}

#[tokio::test]
async fn a_missing_block_costs_only_its_own_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = populated(dir.path()).await;
    let store = dir.path().join("store");
    // Open first, so the block goes missing under a running engine.
    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    let last = engine
        .manifest()
        .blocks
        .iter()
        .max_by_key(|b| b.max_start)
        .cloned()
        .expect("block");
    std::fs::remove_file(store.join("blocks").join(format!("{}.parquet", last.id))).expect("rm");
    // 31–40 were in it; everything else (other block, WAL) keeps serving.
    assert_eq!(readable(&engine, 1, 31).await, 30);
    assert_eq!(readable(&engine, 41, 51).await, 10);
    assert_eq!(readable(&engine, 31, 41).await, 0);
    let all = ScanRequest {
        limit: 100,
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&all).await.expect("search").len(), 40);
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_missing_blocks_total 1")
    );
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("restart");
    assert_eq!(engine.scan_ids(&all).await.expect("search").len(), 40);
}

#[tokio::test]
async fn a_damaged_wal_header_loses_only_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    write_traces(&engine, 1, 101).await;
    drop(engine);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .expect("wal")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    let seg = segs.pop().expect("segment");
    let mut data = std::fs::read(&seg).expect("read");
    data[0..4].copy_from_slice(b"XXXX"); // the magic
    // And one record in the middle: its length field.
    let mid = 8 + (data.len() - 8) / 2;
    let mut p = 8;
    while p < mid {
        let len = u32::from_le_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]) as usize;
        p += 8 + len;
    }
    data[p..p + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    std::fs::write(&seg, &data).expect("write");

    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    assert_eq!(
        readable(&engine, 1, 101).await,
        99,
        "only the damaged record"
    );
    assert_eq!(engine.recovery().wal_bad_headers, 1);
    assert_eq!(engine.recovery().wal_corrupt_records, 1);
    assert!(seg.exists(), "never deleted or rewritten");
    engine.flush().await.expect("flush");
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("restart");
    assert_eq!(readable(&engine, 1, 101).await, 99);
}

#[tokio::test]
async fn a_segment_with_nothing_readable_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    std::fs::create_dir_all(dir.path().join("wal")).expect("wal");
    let seg = dir.path().join("wal").join(format!("{:020}.wal", 5));
    std::fs::write(&seg, vec![0x5a; 4096]).expect("garbage segment");
    let telemetry = Telemetry::new();
    let engine = Engine::open(config, &telemetry).await.expect("open");
    assert_eq!(engine.recovery().wal_segments_moved_aside, 1);
    assert!(
        dir.path()
            .join("wal/damaged")
            .join(format!("{:020}.wal", 5))
            .exists()
    );
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_wal_segments_moved_aside_total 1")
    );
    engine
        .write(span("svc", "op", 1, 1, None, T0, 10, vec![]))
        .await
        .expect("writes on");
}

#[tokio::test]
async fn a_second_engine_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    let first = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    let second = Engine::open(config.clone(), &Telemetry::new()).await;
    let err = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("in use by another spoor process"), "{err}");
    let repair = spoor_engine::repair(&config, true).await;
    let err = repair.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("in use by another spoor process"),
        "repair too: {err}"
    );
    drop(first);
    Engine::open(config, &Telemetry::new())
        .await
        .expect("open after the first is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_cuts_and_compactions_miss_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), T0);
    config.compaction.min_blocks = 2;
    let engine = Arc::new(Engine::open(config, &Telemetry::new()).await.expect("open"));
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (engine, acked, stop) = (engine.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut t = 1;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                engine
                    .write(span("svc", "op", t, 1, None, T0 + t, 10, vec![]))
                    .await
                    .expect("write");
                acked.lock().push(t);
                t += 1;
                if t.is_multiple_of(25) {
                    engine.flush().await.expect("cut");
                }
                if t.is_multiple_of(100) {
                    engine.maintain().await.expect("compact");
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut misses = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 0usize;
    while (i < 3000 || acked.lock().len() < 400) && std::time::Instant::now() < deadline {
        i += 1;
        let id = {
            let a = acked.lock();
            if a.is_empty() {
                None
            } else {
                Some(a[(i * 7919) % a.len()])
            }
        };
        if let Some(t) = id
            && engine
                .get_trace(tid(t), None)
                .await
                .expect("no error")
                .is_none()
        {
            misses += 1;
        }
        if i.is_multiple_of(50) {
            tokio::task::yield_now().await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.expect("writer");
    assert_eq!(misses, 0, "acknowledged traces missed during cuts");
    assert!(acked.lock().len() > 200, "cuts and compactions happened");
}
