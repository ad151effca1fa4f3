//! Encoding lab: writes the standard workload into one compacted block, then re-encodes the
//! block's columns (and a few derived columns) with each Parquet encoding and zstd level and
//! prints the compressed bytes per span of each choice. It is how the per-column choices of
//! `block/encode.rs` were made (see `docs/format-v3.md`).
//!
//! `SPOOR_LAB_SPANS=200000 cargo test -p spoor-engine --release --test encoding_lab -- --ignored --nocapture`

mod support;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, Type as Physical, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use spoor_engine::Engine;
use spoor_loadgen::{DEFAULT_ORIGIN_UNIX_NANOS, Workload};
use spoor_storage::SpanWriter;
use spoor_telemetry::Telemetry;

async fn block(spans: usize) -> (Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), DEFAULT_ORIGIN_UNIX_NANOS);
    config.compaction.target_block_bytes = u64::MAX;
    config.compaction.max_input_bytes = u64::MAX;
    config.compaction.window = Duration::from_secs(365 * 24 * 3600);
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let (mut total, mut since_cut) = (0usize, 0usize);
    for req in Workload::batches(42, 1000) {
        if total >= spans {
            break;
        }
        let n = spoor_model::span_count(&req.resource_spans);
        total += n;
        since_cut += n;
        engine.write(req.resource_spans).await.expect("write");
        if since_cut >= 25_000 {
            engine.flush().await.expect("flush");
            since_cut = 0;
        }
    }
    engine.flush().await.expect("flush");
    while engine.manifest().blocks.len() > 1 {
        engine.maintain().await.expect("compact");
    }
    let b = engine.manifest().blocks[0].clone();
    engine.shutdown().await.expect("shutdown");
    let path = dir
        .path()
        .join("store/blocks")
        .join(format!("{}.parquet", b.id));
    (std::fs::read(path).expect("read block"), dir)
}

/// Compressed bytes per leaf column of `batches` written with `props`.
fn sizes(batches: &[RecordBatch], props: WriterProperties) -> Option<Vec<(String, i64)>> {
    let schema = batches.first()?.schema();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).ok()?;
    for b in batches {
        w.write(b).ok()?;
    }
    w.close().ok()?;
    let r = SerializedFileReader::new(bytes::Bytes::from(buf)).ok()?;
    let mut out: Vec<(String, i64)> = Vec::new();
    for rg in r.metadata().row_groups() {
        for c in rg.columns() {
            let p = c.column_path().string();
            match out.iter_mut().find(|(n, _)| *n == p) {
                Some(e) => e.1 += c.compressed_size(),
                None => out.push((p, c.compressed_size())),
            }
        }
    }
    Some(out)
}

fn base(level: i32) -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level).expect("level")))
        .set_max_row_group_row_count(Some(32 * 1024))
        .set_data_page_row_count_limit(4096)
}

/// Adds per-row-group derived columns: the trace's first start and each span's offset from it.
fn derived(batch: &RecordBatch) -> RecordBatch {
    let ids = batch
        .column_by_name("trace_id")
        .expect("trace_id")
        .as_fixed_size_binary();
    let int = |n: &str| {
        batch
            .column_by_name(n)
            .map(|c| c.as_primitive::<Int64Type>().clone())
    };
    let start = match int("start_time_unix_nano") {
        Some(s) => s,
        None => {
            let (t, o) = (
                int("trace_start_unix_nano").expect("trace start"),
                int("start_offset_nano").expect("offset"),
            );
            t.iter()
                .zip(o.iter())
                .map(|(t, o)| Some(t.unwrap_or(0) + o.unwrap_or(0)))
                .collect()
        }
    };
    let mut trace_start = Vec::with_capacity(batch.num_rows());
    let mut offset = Vec::with_capacity(batch.num_rows());
    let mut prev_delta = Vec::with_capacity(batch.num_rows());
    let (mut first, mut prev) = (0i64, 0i64);
    for i in 0..batch.num_rows() {
        if i == 0 || ids.value(i) != ids.value(i - 1) {
            first = start.value(i);
            prev = first;
        }
        trace_start.push(first);
        offset.push(start.value(i) - first);
        prev_delta.push(start.value(i) - prev);
        prev = start.value(i);
    }
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("x_trace_start", Arc::new(Int64Array::from(trace_start))),
        ("x_start_offset", Arc::new(Int64Array::from(offset))),
        ("x_start_prev_delta", Arc::new(Int64Array::from(prev_delta))),
    ];
    if let Some(a) = batch.column_by_name("attributes") {
        cols.push(("x_attributes_by_key", sorted_by_key(a.as_list::<i32>())));
    }
    let per_key = per_key_columns(batch);
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
    for (n, a) in cols {
        fields.push(Field::new(n, a.data_type().clone(), false));
        arrays.push(a);
    }
    for (n, a) in per_key {
        fields.push(Field::new(n, a.data_type().clone(), true));
        arrays.push(a);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch")
}

/// A column per key of the generic string and int attribute lists (`x_s:<key>`, `x_i:<key>`),
/// null where the row has no such key (a later repeat of a key in a row is left out): what a
/// column per attribute key would cost.
fn per_key_columns(batch: &RecordBatch) -> Vec<(String, ArrayRef)> {
    use std::collections::BTreeMap;
    let n = batch.num_rows();
    let mut out: Vec<(String, ArrayRef)> = Vec::new();
    if let Some(a) = batch.column_by_name("attributes") {
        let list = a.as_list::<i32>();
        let items = list.values().as_struct();
        let (keys, values) = (
            items.column(0).as_string::<i32>(),
            items.column(2).as_string::<i32>(),
        );
        let mut cols: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for (row, w) in list.value_offsets().windows(2).enumerate() {
            for j in w[0] as usize..w[1] as usize {
                let c = cols
                    .entry(keys.value(j).to_string())
                    .or_insert_with(|| vec![None; n]);
                if c[row].is_none() {
                    c[row] = Some(values.value(j).to_string());
                }
            }
        }
        for (k, v) in cols {
            out.push((
                format!("x_s:{k}"),
                Arc::new(arrow_array::StringArray::from(v)),
            ));
        }
    }
    if let Some(a) = batch.column_by_name("attributes_int") {
        let list = a.as_list::<i32>();
        let items = list.values().as_struct();
        let (keys, values) = (
            items.column(0).as_string::<i32>(),
            items.column(1).as_primitive::<Int64Type>(),
        );
        let mut cols: BTreeMap<String, Vec<Option<i64>>> = BTreeMap::new();
        for (row, w) in list.value_offsets().windows(2).enumerate() {
            for j in w[0] as usize..w[1] as usize {
                let c = cols
                    .entry(keys.value(j).to_string())
                    .or_insert_with(|| vec![None; n]);
                if c[row].is_none() {
                    c[row] = Some(values.value(j));
                }
            }
        }
        for (k, v) in cols {
            out.push((format!("x_i:{k}"), Arc::new(Int64Array::from(v))));
        }
    }
    out
}

/// The generic attribute list with each row's items sorted by key.
fn sorted_by_key(list: &arrow_array::ListArray) -> ArrayRef {
    let items = list.values().as_struct();
    let keys = items.column(0).as_string::<i32>();
    let offsets = list.value_offsets();
    let mut idx: Vec<u32> = Vec::with_capacity(keys.len());
    for w in offsets.windows(2) {
        let mut row: Vec<u32> = (w[0] as u32..w[1] as u32).collect();
        row.sort_by_key(|j| keys.value(*j as usize));
        idx.extend(row);
    }
    let idx = arrow_array::UInt32Array::from(idx);
    let taken = arrow_select::take::take(items, &idx, None).expect("take");
    let field = match list.data_type() {
        arrow_schema::DataType::List(f) => f.clone(),
        _ => unreachable!("a list"),
    };
    Arc::new(
        arrow_array::ListArray::try_new(field, list.offsets().clone(), taken, None).expect("list"),
    )
}

#[tokio::test]
#[ignore = "a measurement; run in release with --ignored --nocapture"]
async fn encoding_lab() {
    let spans: usize = std::env::var("SPOOR_LAB_SPANS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (bytes, _dir) = block(spans).await;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone()))
        .expect("reader")
        .with_batch_size(32 * 1024)
        .build()
        .expect("build");
    let batches: Vec<RecordBatch> = reader.map(|b| derived(&b.expect("batch"))).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let meta = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).expect("meta");
    let leaves: Vec<(String, Physical)> = meta
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| (c.path().string(), c.physical_type()))
        .collect();
    println!(
        "{rows} spans, block {} bytes = {:.2} B/span",
        bytes.len(),
        bytes.len() as f64 / rows as f64
    );
    let mut variants: Vec<(String, WriterProperties)> = Vec::new();
    for level in [3, 9, 15, 19] {
        variants.push((format!("dict+zstd{level}"), base(level).build()));
        variants.push((
            format!("plain+zstd{level}"),
            base(level).set_dictionary_enabled(false).build(),
        ));
    }
    variants.push((
        "dict(8MiB)+zstd9".into(),
        base(9).set_dictionary_page_size_limit(8 << 20).build(),
    ));
    let typed = |enc: Encoding, ok: &dyn Fn(Physical) -> bool, level: i32| {
        let mut b = base(level).set_dictionary_enabled(false);
        for (p, t) in &leaves {
            if ok(*t) {
                b = b
                    .set_column_encoding(parquet::schema::types::ColumnPath::from(p.as_str()), enc);
            }
        }
        for p in ["x_trace_start", "x_start_offset", "x_start_prev_delta"] {
            if ok(Physical::INT64) {
                b = b.set_column_encoding(parquet::schema::types::ColumnPath::from(p), enc);
            }
        }
        for (p, t) in [
            ("x_attributes_by_key.list.item.key", Physical::BYTE_ARRAY),
            ("x_attributes_by_key.list.item.value", Physical::BYTE_ARRAY),
            ("x_attributes_by_key.list.item.type", Physical::INT32),
        ] {
            if ok(t) {
                b = b.set_column_encoding(parquet::schema::types::ColumnPath::from(p), enc);
            }
        }
        b.build()
    };
    let ints = |t: Physical| matches!(t, Physical::INT32 | Physical::INT64);
    let fixed = |t: Physical| {
        matches!(
            t,
            Physical::INT32
                | Physical::INT64
                | Physical::FLOAT
                | Physical::DOUBLE
                | Physical::FIXED_LEN_BYTE_ARRAY
        )
    };
    let strings = |t: Physical| t == Physical::BYTE_ARRAY;
    for level in [3, 9, 19] {
        variants.push((
            format!("delta_bp+zstd{level}"),
            typed(Encoding::DELTA_BINARY_PACKED, &ints, level),
        ));
        variants.push((
            format!("bss+zstd{level}"),
            typed(Encoding::BYTE_STREAM_SPLIT, &fixed, level),
        ));
        variants.push((
            format!("delta_len+zstd{level}"),
            typed(Encoding::DELTA_LENGTH_BYTE_ARRAY, &strings, level),
        ));
        variants.push((
            format!("delta_bytes+zstd{level}"),
            typed(Encoding::DELTA_BYTE_ARRAY, &strings, level),
        ));
    }
    let mut table: Vec<(String, Vec<(String, i64)>)> = Vec::new();
    for (name, props) in variants {
        match sizes(&batches, props) {
            Some(s) => table.push((name, s)),
            None => println!("{name}: not writable"),
        }
    }
    let Some((_, first)) = table.first() else {
        return;
    };
    let mut best_total = 0.0;
    let (mut per_key_best, mut per_key_current) = (0.0, 0.0);
    for (col, _) in first {
        let mut row: Vec<(f64, &str)> = table
            .iter()
            .filter_map(|(v, s)| {
                s.iter()
                    .find(|(c, _)| c == col)
                    .map(|(_, b)| (*b as f64 / rows as f64, v.as_str()))
            })
            .collect();
        row.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !col.starts_with("x_") {
            best_total += row[0].0;
        }
        if col.starts_with("x_s:") || col.starts_with("x_i:") {
            per_key_best += row[0].0;
            per_key_current += row
                .iter()
                .find(|(_, v)| *v == "dict+zstd9")
                .map(|r| r.0)
                .unwrap_or(0.0);
            continue;
        }
        let shown: Vec<String> = row
            .iter()
            .take(4)
            .map(|(b, v)| format!("{v} {b:.3}"))
            .collect();
        let current = row
            .iter()
            .find(|(_, v)| *v == "dict+zstd9")
            .map(|r| r.0)
            .unwrap_or(0.0);
        println!(
            "{col:<44} dict+zstd9 {current:.3} | best: {}",
            shown.join(", ")
        );
    }
    println!("sum of per-column best (existing columns): {best_total:.2} B/span");
    println!(
        "a column per generic string/int attribute key: {per_key_current:.2} B/span with \
         dictionaries and zstd 9, {per_key_best:.2} with the best choice per column \
         (vs the attributes and attributes_int lists above)"
    );
}
