//! Reading one row group with reused zstd contexts.
//!
//! parquet's readers create a codec per column chunk, and its zstd codec builds a compressor
//! *and* a decompressor each time (each runs `cpuid` and allocates its tables): a lookup by
//! trace id reads one row group of ~50 column chunks, so most of its CPU went to setting up
//! contexts, not to decoding the trace. Here the pages of a zstd column chunk are read raw
//! (the chunk's metadata says uncompressed) and decompressed with a decompressor taken from
//! a small pool, then handed to parquet's Arrow decoding as ordinary uncompressed pages.
//! The block format is unchanged: every block written so far reads through this path.
//! Decompressed dictionary pages are kept in a [`DictCache`], so reading a row group again
//! does not decompress them again; and a read reserves buffers for the rows it selects, not
//! for the whole row group.

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, RowGroups, RowSelection};
use parquet::arrow::{ProjectionMask, parquet_to_arrow_field_levels};
use parquet::basic::Compression;
use parquet::column::page::{Page, PageIterator, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;

use super::dict_cache::{DictCache, DictKey};

/// A page larger than this (decompressed) is refused: a block's pages are ~1 MiB.
const MAX_PAGE: u64 = 256 << 20;

/// Decompressors kept for reuse; reads running at the same time each take one.
#[derive(Default)]
pub(crate) struct ZstdPool {
    free: Mutex<Vec<Shared>>,
    created: AtomicU64,
}

type Shared = Arc<Mutex<zstd::bulk::Decompressor<'static>>>;

impl ZstdPool {
    const KEEP: usize = 8;

    fn take(&self) -> Result<Shared> {
        if let Some(d) = self.free.lock().pop() {
            return Ok(d);
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        let d = zstd::bulk::Decompressor::new().map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Arc::new(Mutex::new(d)))
    }

    fn give(&self, d: Shared) {
        let mut free = self.free.lock();
        if free.len() < Self::KEEP {
            free.push(d);
        }
    }

    /// How many decompression contexts this pool has created.
    #[cfg(test)]
    pub(crate) fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }
}

/// Bytes `range` of a file, addressed with the file's offsets.
pub(crate) struct Slice {
    start: u64,
    bytes: Bytes,
}

impl Slice {
    pub(crate) fn new(range: Range<u64>, bytes: Bytes) -> Self {
        Self {
            start: range.start,
            bytes,
        }
    }

    fn local(&self, start: u64, len: usize) -> Result<Range<usize>> {
        let begin = start
            .checked_sub(self.start)
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| b.saturating_add(len) <= self.bytes.len())
            .ok_or_else(|| {
                ParquetError::EOF(format!(
                    "read of {len} bytes at {start} outside the fetched range {}..{}",
                    self.start,
                    self.start + self.bytes.len() as u64
                ))
            })?;
        Ok(begin..begin + len)
    }
}

impl Length for Slice {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for Slice {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        let rest = self.bytes.len() - self.local(start, 0)?.start;
        let r = self.local(start, rest)?;
        Ok(self.bytes.slice(r).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        Ok(self.bytes.slice(self.local(start, length)?))
    }
}

/// The byte range of row group `rg`'s column chunks.
pub(crate) fn row_group_range(rg: &RowGroupMetaData) -> Range<u64> {
    let ranges = rg.columns().iter().map(|c| {
        let (start, len) = c.byte_range();
        (start, start.saturating_add(len))
    });
    let start = ranges.clone().map(|r| r.0).min().unwrap_or(0);
    let end = ranges.map(|r| r.1).max().unwrap_or(0);
    start..end.max(start)
}

/// Pages of a zstd column chunk read raw, decompressed with the shared decompressor.
struct ZstdPages {
    inner: SerializedPageReader<Slice>,
    zstd: Shared,
    /// Where this chunk's decompressed dictionary page is cached.
    dict: Option<(Arc<DictCache>, DictKey)>,
}

impl ZstdPages {
    fn inflate(&self, src: &[u8]) -> Result<Bytes> {
        if src.is_empty() {
            return Ok(Bytes::new());
        }
        let err = |e: std::io::Error| ParquetError::External(Box::new(e));
        match zstd::zstd_safe::get_frame_content_size(src) {
            Ok(Some(size)) if size <= MAX_PAGE => {
                let mut out = Vec::with_capacity(size as usize);
                self.zstd
                    .lock()
                    .decompress_to_buffer(src, &mut out)
                    .map_err(err)?;
                Ok(Bytes::from(out))
            }
            Ok(Some(size)) => Err(ParquetError::General(format!(
                "zstd page of {size} bytes exceeds {MAX_PAGE}"
            ))),
            // A frame without its size (parquet's writer always writes it): stream it.
            _ => {
                let mut out = Vec::new();
                zstd::stream::read::Decoder::new(src)
                    .map_err(err)?
                    .take(MAX_PAGE)
                    .read_to_end(&mut out)
                    .map_err(err)?;
                Ok(Bytes::from(out))
            }
        }
    }

    fn decompress(&self, page: Option<Page>) -> Result<Option<Page>> {
        let Some(page) = page else { return Ok(None) };
        Ok(Some(match page {
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                rep_level_encoding,
                statistics,
            } => Page::DataPage {
                buf: self.inflate(&buf)?,
                num_values,
                encoding,
                def_level_encoding,
                rep_level_encoding,
                statistics,
            },
            Page::DictionaryPage {
                buf,
                num_values,
                encoding,
                is_sorted,
            } => {
                if let Some((cache, key)) = &self.dict
                    && let Some(page) = cache.get(key)
                {
                    return Ok(Some(page));
                }
                let page = Page::DictionaryPage {
                    buf: self.inflate(&buf)?,
                    num_values,
                    encoding,
                    is_sorted,
                };
                if let Some((cache, key)) = &self.dict {
                    cache.insert(*key, page.clone());
                }
                page
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                num_nulls,
                num_rows,
                def_levels_byte_len,
                rep_levels_byte_len,
                is_compressed,
                statistics,
            } => {
                let buf = if is_compressed {
                    let levels = (def_levels_byte_len as usize)
                        .checked_add(rep_levels_byte_len as usize)
                        .filter(|l| *l <= buf.len())
                        .ok_or_else(|| ParquetError::General("implausible level lengths".into()))?;
                    let values = self.inflate(&buf[levels..])?;
                    let mut out = Vec::with_capacity(levels + values.len());
                    out.extend_from_slice(&buf[..levels]);
                    out.extend_from_slice(&values);
                    Bytes::from(out)
                } else {
                    buf
                };
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    num_nulls,
                    num_rows,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    is_compressed: false,
                    statistics,
                }
            }
        }))
    }
}

impl Iterator for ZstdPages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for ZstdPages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        let page = self.inner.get_next_page()?;
        self.decompress(page)
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> Result<()> {
        self.inner.skip_next_page()
    }

    fn supports_deferred_dictionary(&self) -> bool {
        self.inner.supports_deferred_dictionary()
    }

    fn take_deferred_dictionary(&mut self) -> Result<Option<Page>> {
        let page = self.inner.take_deferred_dictionary()?;
        self.decompress(page)
    }

    fn at_record_boundary(&mut self) -> Result<bool> {
        self.inner.at_record_boundary()
    }
}

/// The single page reader of a column of one row group.
struct OneChunk(Option<Result<Box<dyn PageReader>>>);

impl Iterator for OneChunk {
    type Item = Result<Box<dyn PageReader>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.take()
    }
}

impl PageIterator for OneChunk {}

/// Row group `rg` of a block whose bytes are in `data`.
struct OneGroup<'a> {
    meta: &'a ParquetMetaData,
    rg: usize,
    data: Arc<Slice>,
    zstd: Shared,
    /// The dictionary cache and this block's key in it (`Loaded::seq`).
    dicts: Option<(Arc<DictCache>, u64)>,
}

impl OneGroup<'_> {
    fn pages(&self, col: usize) -> Result<Box<dyn PageReader>> {
        let group = self.meta.row_group(self.rg);
        let chunk = group.column(col);
        let rows = usize::try_from(group.num_rows())?;
        let locations = self
            .meta
            .page_index_for_row_group(self.rg)
            .page_locations(col)
            .cloned();
        match chunk.compression() {
            Compression::ZSTD(_) => {
                let raw = chunk
                    .clone()
                    .into_builder()
                    .set_compression(Compression::UNCOMPRESSED)
                    .build()?;
                let inner = SerializedPageReader::new(self.data.clone(), &raw, rows, locations)?;
                let dict = match (&self.dicts, u32::try_from(self.rg), u32::try_from(col)) {
                    (Some((cache, block)), Ok(row_group), Ok(column)) => Some((
                        cache.clone(),
                        DictKey {
                            block: *block,
                            row_group,
                            column,
                        },
                    )),
                    _ => None,
                };
                Ok(Box::new(ZstdPages {
                    inner,
                    zstd: self.zstd.clone(),
                    dict,
                }))
            }
            _ => Ok(Box::new(SerializedPageReader::new(
                self.data.clone(),
                chunk,
                rows,
                locations,
            )?)),
        }
    }
}

impl RowGroups for OneGroup<'_> {
    fn num_rows(&self) -> usize {
        usize::try_from(self.meta.row_group(self.rg).num_rows()).unwrap_or(0)
    }

    fn column_chunks(&self, i: usize) -> Result<Box<dyn PageIterator>> {
        Ok(Box::new(OneChunk(Some(self.pages(i)))))
    }

    fn row_groups(&self) -> Box<dyn Iterator<Item = &RowGroupMetaData> + '_> {
        Box::new(std::iter::once(self.meta.row_group(self.rg)))
    }

    fn metadata(&self) -> &ParquetMetaData {
        self.meta
    }
}

/// Reads row group `rg` (its bytes in `data`), sharing one decompressor from `pool`; the
/// decompressed dictionary pages are taken from and kept in `dicts` when it is given (with
/// the block's key there).
pub(crate) struct GroupReader<'a> {
    group: OneGroup<'a>,
    fields: Option<&'a arrow_schema::Fields>,
    pool: &'a ZstdPool,
}

impl<'a> GroupReader<'a> {
    pub(crate) fn new(
        pool: &'a ZstdPool,
        dicts: Option<(Arc<DictCache>, u64)>,
        meta: &'a ParquetMetaData,
        fields: Option<&'a arrow_schema::Fields>,
        rg: usize,
        data: Slice,
    ) -> Result<Self> {
        let zstd = pool.take()?;
        Ok(Self {
            group: OneGroup {
                meta,
                rg,
                data: Arc::new(data),
                zstd,
                dicts,
            },
            fields,
            pool,
        })
    }

    /// The rows of `selection` (all rows when `None`) of the columns in `mask`.
    pub(crate) fn read(
        &self,
        mask: ProjectionMask,
        selection: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>> {
        let levels = parquet_to_arrow_field_levels(
            self.group.meta.file_metadata().schema_descr(),
            mask,
            self.fields,
        )?;
        // The batch size is what parquet reserves each column's buffers for: the rows
        // selected (a lookup's few), not the whole row group (32k rows, ~50 columns).
        let rows = self.group.num_rows().max(1);
        let batch = selection
            .as_ref()
            .map_or(rows, |s| s.row_count().clamp(1, rows));
        let reader = ParquetRecordBatchReader::try_new_with_row_groups(
            &levels,
            &self.group,
            batch,
            selection,
        )?;
        reader
            .map(|b| b.map_err(|e| ParquetError::External(Box::new(e))))
            .collect()
    }
}

impl Drop for GroupReader<'_> {
    fn drop(&mut self) {
        self.pool.give(self.group.zstd.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::BooleanArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ResourceSpans, ScopeSpans, Span, attr};

    /// A block of `traces` traces of 3 spans each, in row groups of `rows` spans.
    fn block(traces: u64, rows: usize) -> Bytes {
        let mut head = crate::head::Head::default();
        for t in 0..traces {
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&t.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            trace_id[15] = 1;
            let spans = (0..3u64)
                .map(|s| Span {
                    trace_id: trace_id.to_vec(),
                    span_id: (t * 8 + s + 1).to_be_bytes().to_vec(),
                    parent_span_id: if s == 0 {
                        Vec::new()
                    } else {
                        (t * 8 + 1).to_be_bytes().to_vec()
                    },
                    name: format!("op-{}", (t + s) % 7),
                    kind: 2,
                    start_time_unix_nano: 1_700_000_000_000_000_000 + t * 1000 + s,
                    end_time_unix_nano: 1_700_000_000_000_000_000 + t * 1000 + s + 500 + t % 13,
                    attributes: vec![
                        attr::string("http.route", format!("/r/{}", t % 11)),
                        attr::int("n", t as i64),
                    ],
                    ..Default::default()
                })
                .collect();
            head.insert_batch(
                vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![attr::string("service.name", format!("svc-{}", t % 5))],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: None,
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
                0,
                0,
            );
        }
        let encoded =
            crate::block::encode_head(&head, "t", 0, rows, 0, 0, Vec::new()).expect("encodes");
        Bytes::from(encoded.bytes)
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        let schema = batches.first().expect("a batch").schema();
        arrow_select::concat::concat_batches(&schema, batches).expect("concat")
    }

    #[test]
    fn row_groups_read_with_pooled_contexts_equal_parquets_reader() {
        let bytes = block(3000, 2048);
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).expect("footer");
        let meta = builder.metadata().clone();
        let fields = builder.schema().fields().clone();
        assert!(meta.num_row_groups() > 3, "several row groups");
        assert!(
            meta.row_group(0)
                .columns()
                .iter()
                .any(|c| matches!(c.compression(), Compression::ZSTD(_))),
            "the block has zstd columns"
        );
        let pool = ZstdPool::default();
        // No cache; one that holds every dictionary page; one that holds about two columns'
        // pages, so that it evicts all the time. Every row group is read twice through each.
        let big = Arc::new(DictCache::new(4 << 20));
        let tiny = Arc::new(DictCache::new(3000));
        let caches = [None, Some(big.clone()), Some(tiny.clone())];
        for (seq, cache) in caches.iter().enumerate() {
            for _pass in 0..2 {
                for rg in 0..meta.num_row_groups() {
                    let dicts = cache.clone().map(|c| (c, seq as u64));
                    read_group_as_parquet_does(&pool, dicts, &bytes, &meta, &fields, rg);
                }
            }
        }
        // One context for every read, not two per column chunk.
        assert_eq!(pool.created(), 1);
        // The second pass took every dictionary page from the big cache.
        let (hits, misses) = (big.hits.get(), big.misses.get());
        assert!(misses > 0 && hits >= misses, "hits {hits}, misses {misses}");
        assert!(tiny.misses.get() > misses, "the tiny cache evicted");
        assert!(tiny.bytes() <= 3000 && tiny.len() > 0);
    }

    /// Reads row group `rg` through [`GroupReader`] (whole, every third row, three rows) and
    /// checks each against parquet's own reader.
    fn read_group_as_parquet_does(
        pool: &ZstdPool,
        dicts: Option<(Arc<DictCache>, u64)>,
        bytes: &Bytes,
        meta: &ParquetMetaData,
        fields: &arrow_schema::Fields,
        rg: usize,
    ) {
        let expected = concat(
            &ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                .expect("footer")
                .with_row_groups(vec![rg])
                .build()
                .expect("reader")
                .collect::<std::result::Result<Vec<_>, _>>()
                .expect("reads"),
        );
        let range = row_group_range(meta.row_group(rg));
        let slice = Slice::new(
            range.clone(),
            bytes.slice(range.start as usize..range.end as usize),
        );
        let reader = GroupReader::new(pool, dicts, meta, Some(fields), rg, slice).expect("reader");
        let got = concat(&reader.read(ProjectionMask::all(), None).expect("reads"));
        assert_eq!(got, expected, "row group {rg}");

        // Every third row, and three rows (a lookup's few: the batch is sized for them),
        // through a selection: the same rows as filtering the whole group.
        let filters = [
            BooleanArray::from_iter((0..expected.num_rows()).map(|i| Some(i % 3 == 0))),
            BooleanArray::from_iter(
                (0..expected.num_rows()).map(|i| Some((100..103).contains(&i))),
            ),
        ];
        for keep in filters {
            let selection = RowSelection::from_filters(std::slice::from_ref(&keep));
            let some = concat(
                &reader
                    .read(ProjectionMask::all(), Some(selection))
                    .expect("reads"),
            );
            let filtered =
                arrow_select::filter::filter_record_batch(&expected, &keep).expect("filter");
            assert_eq!(some, filtered, "row group {rg}, selected rows");
        }
    }

    #[test]
    fn a_read_outside_the_fetched_range_is_an_error_not_a_panic() {
        let s = Slice::new(100..110, Bytes::from_static(&[7; 10]));
        assert_eq!(s.get_bytes(102, 8).expect("inside").len(), 8);
        assert!(s.get_bytes(102, 9).is_err());
        assert!(s.get_bytes(99, 1).is_err());
        assert!(s.get_read(111).is_err());
        assert_eq!(s.len(), 110);
    }
}
