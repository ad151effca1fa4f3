//! Head → Parquet block.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BinaryDictionaryBuilder, FixedSizeBinaryBuilder, Int32Builder, Int64Builder,
    StringBuilder, StringDictionaryBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int8Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, UInt8Array, UInt32Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::metadata::KeyValue as ParquetKv;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use spoor_model::otlp_common::KeyValue;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::{SpanId, attr, span_kind_name};
use spoor_storage::StorageError;

use prost::Message as _;

use super::proto::{Events, Links};
use super::schema::{self, DEDICATED, Dedicated, value_type};
use crate::error::internal;
use crate::head::Head;
use crate::manifest::{BlockMeta, CatalogOp};

/// Rows per data page.
const PAGE_ROWS: usize = 4096;

/// A block ready to upload.
pub(crate) struct EncodedBlock {
    pub(crate) bytes: Vec<u8>,
    pub(crate) meta: BlockMeta,
}

/// How one column is written: dictionary or not, and the encoding without a dictionary.
/// Chosen per column on the standard workload by `tests/encoding_lab.rs` (see
/// `docs/format-v3.md`); columns not listed keep Parquet's default (dictionary, falling back
/// to plain).
/// Figures: B/span of the column in a compacted block of 50k spans, this choice vs Parquet's
/// default (dictionary) at the same zstd level.
const COLUMN_ENCODINGS: &[(&str, bool, Encoding)] = &[
    // 0.53 vs 0.65: every trace id is distinct, runs of them compress as well without one.
    (schema::TRACE_ID, false, Encoding::PLAIN),
    // Random: 8.0 vs 9.7.
    (schema::SPAN_ID, false, Encoding::PLAIN),
    (schema::PARENT_SPAN_ID, false, Encoding::PLAIN),
    // 0.55 vs 0.76.
    (schema::PARENT_ROW, false, Encoding::PLAIN),
    // 0.19 vs 0.28.
    (schema::TRACE_START, false, Encoding::PLAIN),
    // 2.5 vs 3.9 (and 3.1 B/span for format 2's delta-encoded absolute starts).
    (schema::START_OFFSET, false, Encoding::PLAIN),
    // 3.2 vs 5.3 (and 3.8 with DELTA_BINARY_PACKED, format 2's choice).
    (schema::DURATION, false, Encoding::BYTE_STREAM_SPLIT),
    // 3.3 vs 3.6.
    ("attributes_int.list.item.value", false, Encoding::PLAIN),
    // 0.62 vs 0.70.
    ("attributes_double.list.item.value", false, Encoding::PLAIN),
];

/// Writer settings; `max_traces` is the most distinct trace ids in one row group, which sizes
/// the trace-id bloom filters (0.1 % false positives at that many ids).
/// Columns written without zstd: random ids and columns that are nearly always empty, where
/// zstd saves nothing (`span_id` 8.01 vs 8.01 B/span, the others ≤ 0.01 either way, format-2
/// block of 173k spans). Reading a column chunk of a compressed column creates a zstd
/// compressor and decompressor (parquet's codec), and that was the largest part of a lookup
/// by id (`docs/performance-notes.md`): these columns no longer pay it.
const UNCOMPRESSED: &[&str] = &[
    schema::SPAN_ID,
    schema::PARENT_SPAN_ID,
    schema::TRACE_STATE,
    schema::FLAGS,
    "dropped_counts.attributes",
    "dropped_counts.events",
    "dropped_counts.links",
    schema::LINKS,
];

fn writer_props(
    row_group_spans: usize,
    max_traces: usize,
    meta_json: String,
    zstd_level: i32,
    keys: &crate::crypto::Keyring,
) -> Result<WriterProperties, StorageError> {
    let level = ZstdLevel::try_new(zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_spans.max(1)))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Small pages make the page index useful for trace-by-id (rows are sorted by trace).
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_column_bloom_filter_enabled(ColumnPath::from(schema::TRACE_ID), true)
        // Row groups are cut by time, so every one spans all trace ids: the bloom filter is
        // what rules row groups out for a lookup by id (0.1 % false positives per group).
        .set_column_bloom_filter_fpp(ColumnPath::from(schema::TRACE_ID), 0.001)
        // Sized for the trace ids a row group really holds, not its spans: at ~15 spans per
        // trace a filter sized for spans is 8-16 times larger (64 KiB per 32k-span row group,
        // 2 B/span on disk and in every reader's memory) for no better pruning.
        .set_column_bloom_filter_max_ndv(ColumnPath::from(schema::TRACE_ID), max_traces as u64);
    for (column, dictionary, encoding) in COLUMN_ENCODINGS {
        let path = ColumnPath::from(column.split('.').map(str::to_string).collect::<Vec<_>>());
        b = b.set_column_dictionary_enabled(path.clone(), *dictionary);
        if !*dictionary && *encoding != Encoding::PLAIN {
            b = b.set_column_encoding(path, *encoding);
        }
    }
    for column in UNCOMPRESSED {
        let path = ColumnPath::from(column.split('.').map(str::to_string).collect::<Vec<_>>());
        b = b.set_column_compression(path, Compression::UNCOMPRESSED);
    }
    b = b.set_key_value_metadata(Some(vec![
        ParquetKv::new(
            "spoor.format".to_string(),
            schema::FORMAT_VERSION.to_string(),
        ),
        ParquetKv::new("spoor.block".to_string(), meta_json),
    ]));
    // Encryption at rest: Parquet modular encryption (AES-GCM) of the footer and every
    // column with the current key, its id as the footer key metadata (read back by
    // `reader::Retriever`). Row groups stay readable by range.
    if let Some((id, key)) = keys.current() {
        let props = FileEncryptionProperties::builder(key.to_vec())
            .with_footer_key_metadata(id.as_bytes().to_vec())
            .build()
            .map_err(|e| internal(format!("encryption properties: {e}")))?;
        b = b.with_file_encryption_properties(props);
    }
    Ok(b.build())
}

/// Encodes every span of `head` as one unencrypted block (see [`encode_head_sealed`]).
pub(crate) fn encode_head(
    head: &Head,
    id: &str,
    level: u32,
    row_group_spans: usize,
    created_at: u64,
    wal_seq: u64,
    inputs: Vec<String>,
) -> Result<EncodedBlock, StorageError> {
    let keys = crate::crypto::Keyring::none();
    encode_head_sealed(
        head,
        id,
        level,
        row_group_spans,
        created_at,
        wal_seq,
        inputs,
        &keys,
    )
}

/// Encodes every span of `head` as one block, sorted by trace id then start time, encrypted
/// with the keyring's current key if it has one.
/// `wal_seq` and `inputs` go into the block's metadata (see [`BlockMeta`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_head_sealed(
    head: &Head,
    id: &str,
    level: u32,
    row_group_spans: usize,
    created_at: u64,
    wal_seq: u64,
    inputs: Vec<String>,
    keys: &crate::crypto::Keyring,
) -> Result<EncodedBlock, StorageError> {
    let order = head.sorted_order();
    let mut meta = block_meta(head, &order, id, level, created_at);
    meta.wal_seq = wal_seq;
    meta.inputs = inputs;
    let meta_json = serde_json::to_string(&meta).map_err(internal)?;
    let schema = schema::block_schema();
    // Compacted blocks live long and are written in the background: compress them harder
    // (zstd 15 vs 9: 9.7 vs 10.2 B/span for `attributes.value`, 4.2 vs 4.3 for its keys).
    let groups = time_row_groups(head, &order, row_group_spans.max(1));
    let max_traces = groups
        .iter()
        .map(|g| trace_count(head, g))
        .max()
        .unwrap_or(0)
        .max(MIN_BLOOM_NDV);
    let props = writer_props(
        row_group_spans,
        max_traces,
        meta_json,
        if level == 0 { 3 } else { 15 },
        keys,
    )?;
    let mut bytes = Vec::new();
    {
        let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(props))
            .map_err(|e| internal(format!("creating parquet writer: {e}")))?;
        // Protobuf, whose reader allows at least the nesting the ingest decoders allow.
        let resource_pb: Vec<Vec<u8>> = head
            .resources
            .values
            .iter()
            .map(|r| r.encode_to_vec())
            .collect();
        let scope_pb: Vec<Vec<u8>> = head
            .scopes
            .values
            .iter()
            .map(|s| s.encode_to_vec())
            .collect();
        let order: Vec<u32> = groups.concat();
        let relative = trace_relative(head, &order);
        let mut at = 0;
        for group in &groups {
            let rows = &order[at..at + group.len()];
            let relative = &relative[at..at + group.len()];
            // A row group is handed to the writer in slices: it keeps the slices' encoded
            // pages, not their Arrow arrays, so a cut holds one slice's arrays at a time
            // (the whole group's took about three times the head's memory of its spans).
            for (rows, relative) in rows
                .chunks(ENCODE_SLICE_ROWS)
                .zip(relative.chunks(ENCODE_SLICE_ROWS))
            {
                let batch = encode_rows(head, rows, relative, &schema, &resource_pb, &scope_pb)?;
                writer
                    .write(&batch)
                    .map_err(|e| internal(format!("writing parquet: {e}")))?;
            }
            at += group.len();
            // Each group is its own row group (one larger than the limit is split by it).
            writer
                .flush()
                .map_err(|e| internal(format!("writing parquet: {e}")))?;
        }
        writer
            .close()
            .map_err(|e| internal(format!("closing parquet: {e}")))?;
    }
    meta.size_bytes = bytes.len() as u64;
    meta.crc32c = crc32c::crc32c(&bytes);
    Ok(EncodedBlock { bytes, meta })
}

/// Rows of a row group encoded into Arrow arrays at a time.
const ENCODE_SLICE_ROWS: usize = 4096;

/// Trace-id bloom filters are sized for at least this many ids (a few hundred bytes).
const MIN_BLOOM_NDV: usize = 256;

/// Distinct trace ids among `rows` (which hold each trace's rows together).
fn trace_count(head: &Head, rows: &[u32]) -> usize {
    let mut n = 0;
    let mut last = None;
    for i in rows {
        let t = head.spans[*i as usize].trace;
        if last != Some(t) {
            n += 1;
            last = Some(t);
        }
    }
    n
}

fn block_meta(head: &Head, order: &[u32], id: &str, level: u32, created_at: u64) -> BlockMeta {
    // Borrowed from the head while counting (a cut visits every span: no allocation per span),
    // owned once per distinct value at the end. Tuples order as `CatalogOp` does.
    let mut services: BTreeSet<&str> = BTreeSet::new();
    let mut ops: BTreeSet<(&str, &str, &'static str)> = BTreeSet::new();
    let mut traces = 0u64;
    let mut last = None;
    let mut span_service: HashMap<(spoor_model::TraceId, SpanId), &str> = HashMap::new();
    for i in order {
        let s = &head.spans[*i as usize];
        if last != Some(s.trace) {
            traces += 1;
            last = Some(s.trace);
        }
        let service = head.service_of(s);
        services.insert(service);
        let p = head.peek(s);
        ops.insert((service, p.name, span_kind_name(p.kind)));
        if let Ok(sid) = SpanId::from_bytes(p.span_id) {
            span_service.insert((s.trace, sid), service);
        }
    }
    let mut deps: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for s in &head.spans {
        let Ok(parent) = SpanId::from_bytes(head.peek(s).parent_span_id) else {
            continue;
        };
        let child = head.service_of(s);
        if let Some(p) = span_service.get(&(s.trace, parent))
            && *p != child
        {
            *deps.entry((p, child)).or_default() += 1;
        }
    }
    let first = order.first().map(|i| head.spans[*i as usize].trace);
    let lastid = order.last().map(|i| head.spans[*i as usize].trace);
    BlockMeta {
        id: id.to_string(),
        level,
        size_bytes: 0,
        crc32c: 0,
        span_count: order.len() as u64,
        trace_count: traces,
        min_start: head.min_start,
        max_start: head.max_start,
        min_trace_id: first.map(|t| t.to_hex()).unwrap_or_default(),
        max_trace_id: lastid.map(|t| t.to_hex()).unwrap_or_default(),
        services: services.into_iter().map(str::to_string).collect(),
        operations: ops
            .into_iter()
            .map(|(service, name, kind)| CatalogOp {
                service: service.to_string(),
                name: name.to_string(),
                kind: kind.to_string(),
            })
            .collect(),
        dependencies: deps
            .into_iter()
            .map(|((p, c), n)| (p.to_string(), c.to_string(), n))
            .collect(),
        created_at,
        wal_seq: 0,
        inputs: Vec::new(),
    }
}

/// The row groups of a block: whole traces in the order of their first span's start, cut
/// into groups of at most `rg` spans (a longer trace is a group of its own), each group in
/// `order`'s order (trace id, then start). Row groups then cover short, mostly disjoint time
/// ranges, so a search scans them newest first and stops at its limit; a lookup by id still
/// finds its row group by the bloom filter and its page by the page index.
/// `order` is sorted by trace id, then start (so a trace's first row is its earliest).
fn time_row_groups(head: &Head, order: &[u32], rg: usize) -> Vec<Vec<u32>> {
    let mut traces: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let first = &head.spans[order[i] as usize];
        let mut j = i + 1;
        while j < order.len() && head.spans[order[j] as usize].trace == first.trace {
            j += 1;
        }
        traces.push((first.start, i..j));
        i = j;
    }
    traces.sort_by_key(|(start, r)| (*start, r.start));
    let mut groups = Vec::new();
    let mut current: Vec<std::ops::Range<usize>> = Vec::new();
    let mut spans = 0;
    let mut close = |current: &mut Vec<std::ops::Range<usize>>| {
        current.sort_by_key(|r| r.start);
        let rows: Vec<u32> = current.drain(..).flat_map(|r| order[r].to_vec()).collect();
        groups.push(rows);
    };
    for (_, r) in traces {
        if spans > 0 && spans + r.len() > rg {
            close(&mut current);
            spans = 0;
        }
        spans += r.len();
        current.push(r);
    }
    if !current.is_empty() {
        close(&mut current);
    }
    groups
}

/// The string form stored in `attributes.value` and the type tag for one value.
pub(crate) fn encode_value(v: Option<&Value>) -> (u8, String) {
    match v {
        Some(Value::StringValue(s)) => (value_type::STRING, s.clone()),
        Some(Value::BoolValue(b)) => (value_type::BOOL, b.to_string()),
        Some(Value::IntValue(i)) => (value_type::INT, i.to_string()),
        Some(Value::DoubleValue(d)) => (value_type::DOUBLE, attr::format_double(*d)),
        Some(Value::BytesValue(b)) => (value_type::BYTES, attr::base64_encode(b)),
        Some(other) => {
            let any = spoor_model::otlp_common::AnyValue {
                value: Some(other.clone()),
            };
            (value_type::PROTO, attr::base64_encode(&any.encode_to_vec()))
        }
        None => (value_type::PROTO, String::new()),
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Per row in block order, what is stored relative to the row's trace.
struct TraceRelative {
    /// The position of the row's parent among its trace's rows in this block (0 = the
    /// trace's first row), when the parent is there.
    parent_row: Option<i32>,
    /// The start of the trace's first row in block order, its earliest (rows are sorted by
    /// trace then start).
    trace_start: i64,
}

fn trace_relative(head: &Head, order: &[u32]) -> Vec<TraceRelative> {
    let mut out = Vec::with_capacity(order.len());
    let mut start = 0;
    while start < order.len() {
        let first = &head.spans[order[start] as usize];
        let trace = first.trace;
        let trace_start = to_i64(first.start);
        let mut end = start;
        let mut pos: HashMap<&[u8], i32> = HashMap::new();
        while end < order.len() && head.spans[order[end] as usize].trace == trace {
            let id = head.peek(&head.spans[order[end] as usize]).span_id;
            pos.entry(id).or_insert((end - start) as i32);
            end += 1;
        }
        for i in &order[start..end] {
            let parent = head.peek(&head.spans[*i as usize]).parent_span_id;
            let parent_row = if parent.len() == 8 {
                pos.get(parent).copied()
            } else {
                None
            };
            out.push(TraceRelative {
                parent_row,
                trace_start,
            });
        }
        start = end;
    }
    out
}

fn encode_rows(
    head: &Head,
    rows: &[u32],
    relative: &[TraceRelative],
    schema: &SchemaRef,
    resource_pb: &[Vec<u8>],
    scope_pb: &[Vec<u8>],
) -> Result<RecordBatch, StorageError> {
    let n = rows.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent_row = Int32Builder::with_capacity(n);
    let mut trace_state = StringBuilder::new();
    let mut flags = Vec::with_capacity(n);
    let mut name = StringDictionaryBuilder::<Int32Type>::new();
    let mut kind = Vec::with_capacity(n);
    let mut trace_start = Vec::with_capacity(n);
    let mut start_offset = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut status_code = Vec::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut service = StringDictionaryBuilder::<Int32Type>::new();
    let mut resource = BinaryDictionaryBuilder::<Int32Type>::new();
    let mut scope = BinaryDictionaryBuilder::<Int32Type>::new();
    let mut ded_str: Vec<StringBuilder> = DEDICATED.iter().map(|_| StringBuilder::new()).collect();
    let mut ded_int: Vec<Int64Builder> = DEDICATED.iter().map(|_| Int64Builder::new()).collect();
    let mut attr_offsets = Vec::with_capacity(n + 1);
    attr_offsets.push(0i32);
    let (mut keys, mut types, mut values) = (Vec::new(), Vec::new(), Vec::new());
    // One row's generic attributes, sorted by key before they are appended: the same keys
    // then follow each other in the same order from row to row, which compresses better
    // (4.3 → 3.9 B/span for `attributes.key` on the standard workload).
    let mut ints = TypedList::<i64>::new(n);
    let mut doubles = TypedList::<f64>::new(n);
    let mut bools = TypedList::<bool>::new(n);
    let (mut d_attr, mut d_events, mut d_links) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut events = BinaryBuilder::new();
    let mut links = BinaryBuilder::new();

    let fsb = |e: arrow_schema::ArrowError| internal(format!("building id column: {e}"));
    for (i, rel) in rows.iter().zip(relative) {
        let s = &head.spans[*i as usize];
        // Decoded one row at a time: the head holds spans encoded.
        let decoded = head.decode(s).unwrap_or_default();
        let span = &decoded;
        // This row's generic attributes, written sorted by key.
        let mut row_items: Vec<(&str, u8, String)> = Vec::new();
        trace_id.append_value(s.trace.0).map_err(fsb)?;
        let sid = SpanId::from_bytes(&span.span_id).unwrap_or_default();
        span_id.append_value(sid.0).map_err(fsb)?;
        // A parent stored in this block is referenced by position (about 1 byte instead of 8).
        match (&rel.parent_row, SpanId::from_bytes(&span.parent_span_id)) {
            (Some(r), _) => {
                parent.append_null();
                parent_row.append_value(*r);
            }
            (None, Ok(p)) => {
                parent.append_value(p.0).map_err(fsb)?;
                parent_row.append_null();
            }
            (None, Err(_)) => {
                parent.append_null();
                parent_row.append_null();
            }
        }
        if span.trace_state.is_empty() {
            trace_state.append_null();
        } else {
            trace_state.append_value(&span.trace_state);
        }
        flags.push(span.flags);
        name.append_value(&span.name);
        kind.push(span.kind as i8);
        // Within a trace, starts are offsets from the trace's first start: small numbers
        // where absolute starts jump at every trace boundary.
        let start = to_i64(span.start_time_unix_nano);
        trace_start.push(rel.trace_start);
        start_offset.push(start.saturating_sub(rel.trace_start).max(0));
        duration.push(
            (i128::from(span.end_time_unix_nano) - i128::from(span.start_time_unix_nano))
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        );
        let status = span.status.clone().unwrap_or_default();
        status_code.push(status.code as i8);
        if status.message.is_empty() {
            status_message.append_null();
        } else {
            status_message.append_value(&status.message);
        }
        service.append_value(head.service_of(s));
        match resource_pb.get(s.resource as usize) {
            Some(j) => resource.append_value(j),
            None => resource.append_null(),
        }
        match scope_pb.get(s.scope as usize) {
            Some(j) => scope.append_value(j),
            None => scope.append_null(),
        }
        // Dedicated columns take the first attribute with their key and type.
        let mut slots: Vec<Option<&KeyValue>> = vec![None; DEDICATED.len()];
        for kv in &span.attributes {
            let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
            let slot = DEDICATED.iter().position(|(k, _, ty)| {
                *k == kv.key
                    && matches!(
                        (ty, v),
                        (Dedicated::Str, Some(Value::StringValue(_)))
                            | (Dedicated::Int, Some(Value::IntValue(_)))
                    )
            });
            match slot {
                Some(j) if slots[j].is_none() => slots[j] = Some(kv),
                _ if matches!(v, Some(Value::IntValue(_))) => {
                    if let Some(Value::IntValue(i)) = v {
                        ints.push(&kv.key, *i);
                    }
                }
                _ if matches!(v, Some(Value::DoubleValue(_))) => {
                    if let Some(Value::DoubleValue(d)) = v {
                        doubles.push(&kv.key, *d);
                    }
                }
                _ if matches!(v, Some(Value::BoolValue(_))) => {
                    if let Some(Value::BoolValue(b)) = v {
                        bools.push(&kv.key, *b);
                    }
                }
                _ => {
                    let (t, val) = encode_value(v);
                    row_items.push((kv.key.as_str(), t, val));
                }
            }
        }
        row_items.sort_by(|a, b| a.0.cmp(b.0));
        for (k, t, v) in row_items.drain(..) {
            keys.push(k.to_string());
            types.push(t);
            values.push(v);
        }
        for (j, slot) in slots.iter().enumerate() {
            let v = slot
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.as_ref());
            match (DEDICATED[j].2, v) {
                (Dedicated::Str, Some(Value::StringValue(s))) => ded_str[j].append_value(s),
                (Dedicated::Int, Some(Value::IntValue(i))) => ded_int[j].append_value(*i),
                (Dedicated::Str, _) => ded_str[j].append_null(),
                (Dedicated::Int, _) => ded_int[j].append_null(),
            }
        }
        attr_offsets.push(i32::try_from(keys.len()).map_err(internal)?);
        ints.end_row()?;
        doubles.end_row()?;
        bools.end_row()?;
        d_attr.push(span.dropped_attributes_count);
        d_events.push(span.dropped_events_count);
        d_links.push(span.dropped_links_count);
        if span.events.is_empty() {
            events.append_null();
        } else {
            let wrapped = Events {
                events: span.events.clone(),
            };
            events.append_value(wrapped.encode_to_vec());
        }
        if span.links.is_empty() {
            links.append_null();
        } else {
            let wrapped = Links {
                links: span.links.clone(),
            };
            links.append_value(wrapped.encode_to_vec());
        }
    }

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(parent_row.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(UInt32Array::from(flags)),
        Arc::new(name.finish()),
        Arc::new(Int8Array::from(kind)),
        Arc::new(Int64Array::from(trace_start)),
        Arc::new(Int64Array::from(start_offset)),
        Arc::new(Int64Array::from(duration)),
        Arc::new(Int8Array::from(status_code)),
        Arc::new(status_message.finish()),
        Arc::new(service.finish()),
        Arc::new(resource.finish()),
        Arc::new(scope.finish()),
    ];
    for (j, (_, _, ty)) in DEDICATED.iter().enumerate() {
        match ty {
            Dedicated::Str => columns.push(Arc::new(ded_str[j].finish())),
            Dedicated::Int => columns.push(Arc::new(ded_int[j].finish())),
        }
    }
    let items = StructArray::try_new(
        schema::attribute_fields(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(UInt8Array::from(types)),
            Arc::new(StringArray::from(values)),
        ],
        None,
    )
    .map_err(internal)?;
    columns.push(Arc::new(
        ListArray::try_new(
            schema::attribute_item(),
            OffsetBuffer::new(attr_offsets.into()),
            Arc::new(items),
            None,
        )
        .map_err(internal)?,
    ));
    columns.push(ints.finish(DataType::Int64, |v| Arc::new(Int64Array::from(v)))?);
    columns.push(doubles.finish(DataType::Float64, |v| Arc::new(Float64Array::from(v)))?);
    columns.push(bools.finish(DataType::Boolean, |v| Arc::new(BooleanArray::from(v)))?);
    columns.push(Arc::new(
        StructArray::try_new(
            schema::dropped_fields(),
            vec![
                Arc::new(UInt32Array::from(d_attr)),
                Arc::new(UInt32Array::from(d_events)),
                Arc::new(UInt32Array::from(d_links)),
            ],
            None,
        )
        .map_err(internal)?,
    ));
    columns.push(Arc::new(events.finish()));
    columns.push(Arc::new(links.finish()));
    RecordBatch::try_new(schema.clone(), columns).map_err(internal)
}

/// Builds one typed attribute list column (`List<Struct<key, value>>`).
struct TypedList<T> {
    keys: Vec<String>,
    values: Vec<T>,
    offsets: Vec<i32>,
}

impl<T> TypedList<T> {
    fn new(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            keys: Vec::new(),
            values: Vec::new(),
            offsets,
        }
    }

    fn push(&mut self, key: &str, value: T) {
        self.keys.push(key.to_string());
        self.values.push(value);
    }

    fn end_row(&mut self) -> Result<(), StorageError> {
        self.offsets
            .push(i32::try_from(self.keys.len()).map_err(internal)?);
        Ok(())
    }

    fn finish(
        self,
        value_type: DataType,
        values: impl FnOnce(Vec<T>) -> ArrayRef,
    ) -> Result<ArrayRef, StorageError> {
        let items = StructArray::try_new(
            schema::typed_fields(value_type.clone()),
            vec![Arc::new(StringArray::from(self.keys)), values(self.values)],
            None,
        )
        .map_err(internal)?;
        Ok(Arc::new(
            ListArray::try_new(
                schema::typed_item(value_type),
                OffsetBuffer::new(self.offsets.into()),
                Arc::new(items),
                None,
            )
            .map_err(internal)?,
        ))
    }
}
