//! Trace by id: the trace-id bloom filters that rule row groups out are sized for the traces a
//! row group holds (not its spans), still have no false negatives and about 0.1 % false
//! positives, and every trace is found through them after a cut and after compaction.

mod support;

use std::collections::HashSet;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::bloom_filter::Sbbf;
use parquet::file::reader::{FileReader, SerializedFileReader};
use spoor_engine::Engine;
use spoor_storage::{SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::workload::Workload;

/// Per row group of every block under `dir`: (trace ids in it, its bloom filter's bytes,
/// the filter).
fn row_group_blooms(dir: &std::path::Path) -> Vec<(HashSet<Vec<u8>>, usize, Sbbf)> {
    let mut out = Vec::new();
    let blocks = dir.join("store").join("blocks");
    for entry in std::fs::read_dir(&blocks).expect("blocks dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let bytes = bytes::Bytes::from(std::fs::read(&path).expect("read block"));
        let reader = SerializedFileReader::new(bytes.clone()).expect("parquet");
        let md = reader.metadata();
        let col = md
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().string() == "trace_id")
            .expect("trace_id column");
        for (i, rg) in md.row_groups().iter().enumerate() {
            let chunk = rg.column(col);
            let bloom = Sbbf::read_from_column_chunk(chunk, &bytes)
                .expect("bloom")
                .expect("a trace-id bloom filter");
            let len = chunk.bloom_filter_length().expect("bloom length") as usize;
            let mut ids = HashSet::new();
            let batches = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                .expect("arrow reader")
                .with_row_groups(vec![i])
                .with_projection(ProjectionMask::leaves(
                    md.file_metadata().schema_descr(),
                    [col],
                ))
                .build()
                .expect("build");
            for batch in batches {
                let batch = batch.expect("batch");
                let a = batch.column(0).as_fixed_size_binary();
                for r in 0..a.len() {
                    ids.insert(a.value(r).to_vec());
                }
            }
            out.push((ids, len, bloom));
        }
    }
    out
}

#[tokio::test]
async fn trace_id_blooms_are_sized_for_traces_and_find_every_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.row_group_spans = 8_192;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut w = Workload::new(11, support::now_nanos());
    let traces = w.batches(40_000);
    let mut ids = Vec::new();
    for (k, t) in traces.iter().enumerate() {
        let first = &t[0].scope_spans[0].spans[0];
        ids.push(spoor_model::TraceId::from_bytes(&first.trace_id).expect("id"));
        engine.write(t.clone()).await.expect("write");
        if k == traces.len() / 2 {
            engine.flush().await.expect("flush");
        }
    }
    engine.flush().await.expect("flush");
    assert_eq!(engine.manifest().blocks.len(), 2);

    let groups = row_group_blooms(dir.path());
    assert!(groups.len() >= 4, "{} row groups", groups.len());
    let mut probes = 0u64;
    let mut false_positives = 0u64;
    let mut probe = support::workload::Rng::new(5);
    for (ids, len, bloom) in &groups {
        // 8,192 spans are a few hundred traces: a filter sized for spans was 64 KiB
        // (~14.4 bits per id at 0.1 %, rounded up to a power of two).
        let bound = (ids.len().max(256) * 2 * 2).next_power_of_two() + 64;
        assert!(
            *len <= bound,
            "bloom of {len} bytes for {} traces",
            ids.len()
        );
        for id in ids {
            assert!(bloom.check(id.as_slice()), "false negative");
        }
        for _ in 0..20_000 {
            let mut absent = [0u8; 16];
            absent[..8].copy_from_slice(&probe.next_u64().to_le_bytes());
            absent[8..].copy_from_slice(&probe.next_u64().to_le_bytes());
            probes += 1;
            false_positives += u64::from(bloom.check(absent.as_slice()));
        }
    }
    let rate = false_positives as f64 / probes as f64;
    assert!(rate < 0.005, "false positive rate {rate}");

    // Every trace through the read path, after the cut and after compaction into one block.
    for round in ["two cut blocks", "after maintenance"] {
        for (id, t) in ids.iter().zip(&traces) {
            let got = engine
                .get_trace(*id, None)
                .await
                .expect("get")
                .expect("found");
            assert_eq!(
                support::spans_of(&got),
                spoor_model::span_count(t),
                "{round}: trace {}",
                id.to_hex()
            );
        }
        engine.maintain().await.expect("compact");
    }
    engine.shutdown().await.expect("shutdown");
}

/// (span id, parent span id) of every span of a trace, sorted.
fn links(t: &spoor_storage::Trace) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<_> = t
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| (s.span_id.clone(), s.parent_span_id.clone()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_page_of_search_results_is_read_in_one_pass_with_traces_split_across_row_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    // Many traces are longer than a row group and continue in the next one.
    config.row_group_spans = 48;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut w = Workload::new(23, support::now_nanos());
    let traces = w.batches(6_000);
    let mut written = std::collections::HashMap::new();
    for t in &traces {
        let first = &t[0].scope_spans[0].spans[0];
        let id = spoor_model::TraceId::from_bytes(&first.trace_id).expect("id");
        let mut spans: Vec<(Vec<u8>, Vec<u8>)> = t
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| (s.span_id.clone(), s.parent_span_id.clone()))
            .collect();
        spans.sort();
        written.insert(id, spans);
        engine.write(t.clone()).await.expect("write");
    }
    engine.flush().await.expect("flush");
    let query = spoor_storage::ScanRequest {
        limit: 10_000,
        ..Default::default()
    };
    let found = engine.scan(&query).await.expect("find");
    assert_eq!(found.len(), written.len());
    let mut split = 0;
    for t in &found {
        let want = &written[&t.id];
        assert_eq!(&links(t), want, "trace {}", t.id.to_hex());
        let alone = engine
            .get_trace(t.id, None)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(links(&alone), *want);
        split += usize::from(want.len() > 48);
    }
    assert!(split >= 5, "only {split} traces longer than a row group");
    engine.shutdown().await.expect("shutdown");
}
