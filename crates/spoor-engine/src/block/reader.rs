//! Reading blocks from the object store: footer and bloom-filter caches, trace-by-id with
//! row-group pruning, and the block reads search builds on (the search itself is in `search.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::ArrowError;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter, RowSelection,
};
// `ParquetObjectReader` is deprecated upstream in favour of a hand-written `AsyncFileReader`;
// it still does what we need (ranged gets through `object_store`).
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use spoor_model::TraceId;
use spoor_storage::StorageError;

use super::decode::{self, DecodedRow};
use super::dict_cache::DictCache;
use super::pages;
use super::schema;
use crate::error::{corrupt, store};
use crate::manifest::{BlockMeta, block_path};
use spoor_telemetry::metrics::counter::Counter;

/// Rows per batch of a search's scan (parquet's default is 1024).
pub(super) const SEARCH_BATCH_ROWS: usize = 8192;

/// A block's footer, parsed once and kept.
pub(crate) struct Loaded {
    pub(super) meta: ArrowReaderMetadata,
    /// `spoor.format` of the block; decoding branches on it.
    pub(super) format: u32,
    pub(super) path: Path,
    size: u64,
    /// Parquet modular encryption: pages are read through parquet's decrypting reader.
    encrypted: bool,
    blooms: Mutex<HashMap<usize, Option<Arc<Sbbf>>>>,
    /// Unique per load: this block's key in the dictionary cache.
    seq: u64,
    /// The trace-id leaf column: a lookup checks every block's, so it is found once here
    /// (walking the schema of 188 blocks per lookup was a tenth of its CPU at 50 M spans).
    trace_col: Option<usize>,
}

/// Reads blocks; caches footers and bloom filters per block.
pub(crate) struct Blocks {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: Path,
    cache: Mutex<HashMap<String, Arc<Loaded>>>,
    /// One lock per block being loaded: a lookup that needs a block the background warm-up
    /// (or another lookup) is loading waits for that load instead of fetching and verifying
    /// the whole file a second time.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Rows skipped because a value did not decode (`spoor_engine_undecodable_rows_total`).
    pub(super) undecodable: Counter,
    /// The keys encrypted blocks are read with (the key id is the footer key metadata).
    pub(crate) keys: Arc<crate::crypto::Keyring>,
    /// Loads refused because the block's key is not configured or does not decrypt it
    /// (`spoor_engine_encryption_key_errors_total`).
    pub(crate) key_errors: Counter,
    /// zstd decompressors reused across lookups by id.
    zstd: pages::ZstdPool,
    /// Decompressed dictionary pages of the row groups lookups read last.
    dicts: Arc<DictCache>,
    /// The next [`Loaded::seq`].
    loads: AtomicU64,
}

/// Hands parquet the key an encrypted block names, remembering a key id it lacks.
pub(crate) struct Retriever {
    keys: Arc<crate::crypto::Keyring>,
    refused: Mutex<Option<crate::crypto::CryptoError>>,
}

impl parquet::encryption::decrypt::KeyRetriever for Retriever {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        let id = String::from_utf8_lossy(key_metadata);
        match self.keys.key(&id) {
            Ok(k) => Ok(k.to_vec()),
            Err(e) => {
                let msg = e.to_string();
                *self.refused.lock() = Some(e);
                Err(parquet::errors::ParquetError::General(msg))
            }
        }
    }
}

/// Reader options for a block's bytes: decryption through the keyring when its footer is
/// encrypted, and the retriever (to tell a missing key from damage).
pub(crate) fn read_options(
    keys: &Arc<crate::crypto::Keyring>,
    bytes: &[u8],
) -> Result<(ArrowReaderOptions, Option<Arc<Retriever>>), StorageError> {
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    if !is_encrypted(bytes) {
        return Ok((options, None));
    }
    let retriever = Arc::new(Retriever {
        keys: keys.clone(),
        refused: Mutex::new(None),
    });
    let props = parquet::encryption::decrypt::FileDecryptionProperties::with_key_retriever(
        retriever.clone(),
    )
    .build()
    .map_err(|e| crate::error::internal(format!("decryption properties: {e}")))?;
    Ok((
        options.with_file_decryption_properties(props),
        Some(retriever),
    ))
}

/// Registers `spoor_engine_encryption_key_errors_total` and the dictionary cache's
/// `spoor_engine_dictionary_cache_{hits,misses}_total`.
pub(crate) fn register_key_errors(blocks: &Blocks, telemetry: &spoor_telemetry::Telemetry) {
    telemetry.register(
        "engine_encryption_key_errors",
        "Encrypted blocks not read because their key id is not configured or the key is wrong \
         (not corruption: the block stays in the manifest)",
        blocks.key_errors.clone(),
    );
    telemetry.register(
        "engine_dictionary_cache_hits",
        "Dictionary pages a lookup by trace id took decompressed from the cache",
        blocks.dicts.hits.clone(),
    );
    telemetry.register(
        "engine_dictionary_cache_misses",
        "Dictionary pages a lookup by trace id decompressed because they were not cached",
        blocks.dicts.misses.clone(),
    );
}

/// True for a Parquet file with an encrypted footer (modular encryption).
pub(crate) fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.ends_with(b"PARE")
}

/// The block's format version from its key-value metadata. A block without one, or with
/// one below [`schema::OLDEST_FORMAT_VERSION`], is structurally wrong (corrupt); a block of
/// a newer version than this reader knows is not corrupt, only unreadable by this binary.
pub(crate) fn block_format(
    md: &parquet::file::metadata::ParquetMetaData,
    loc: &str,
) -> Result<u32, StorageError> {
    let value = md
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == "spoor.format")
        .and_then(|kv| kv.value.clone())
        .ok_or_else(|| corrupt(loc, "no spoor.format key-value metadata"))?;
    let v: u32 = value
        .trim()
        .parse()
        .map_err(|_| corrupt(loc, format!("spoor.format {value:?} is not a number")))?;
    if v < schema::OLDEST_FORMAT_VERSION {
        return Err(corrupt(loc, format!("spoor.format {v} does not exist")));
    }
    if v > schema::FORMAT_VERSION {
        return Err(StorageError::Unavailable(format!(
            "block {loc} has format {v}, newer than this binary reads ({}); upgrade spoor",
            schema::FORMAT_VERSION
        )));
    }
    Ok(v)
}

pub(super) fn pq(location: &str) -> impl Fn(parquet::errors::ParquetError) -> StorageError + '_ {
    move |e| corrupt(location, e)
}

impl Blocks {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        undecodable: Counter,
        keys: Arc<crate::crypto::Keyring>,
    ) -> Self {
        Self {
            store,
            prefix,
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            undecodable,
            keys,
            key_errors: Counter::default(),
            zstd: pages::ZstdPool::default(),
            dicts: Arc::new(DictCache::default()),
            loads: AtomicU64::new(0),
        }
    }

    /// Reader options for a block's bytes (see [`read_options`]).
    pub(crate) fn read_options(
        &self,
        bytes: &[u8],
    ) -> Result<(ArrowReaderOptions, Option<Arc<Retriever>>), StorageError> {
        read_options(&self.keys, bytes)
    }

    /// Drops undecodable rows (after parents are resolved), counting and logging them.
    pub(super) fn skip_undecodable(&self, rows: &mut Vec<DecodedRow>, loc: &str) -> u64 {
        let n = decode::drop_undecodable(rows);
        if n > 0 {
            self.undecodable.inc_by(n);
            tracing::error!(block = %loc, rows = n, "skipped block rows whose values do not decode");
        }
        n
    }

    pub(crate) fn evict(&self, id: &str) {
        self.cache.lock().remove(id);
    }

    /// Fetches a whole block and checks it against the manifest's size and checksum.
    pub(crate) async fn fetch_verified(&self, b: &BlockMeta) -> Result<Bytes, StorageError> {
        let path = block_path(&self.prefix, &b.id);
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|e| store(&format!("reading block {}", b.id), e))?
            .bytes()
            .await
            .map_err(|e| store(&format!("reading block {}", b.id), e))?;
        if bytes.len() as u64 != b.size_bytes {
            return Err(corrupt(
                path.to_string(),
                format!("size {} != manifest size {}", bytes.len(), b.size_bytes),
            ));
        }
        let crc = crc32c::crc32c(&bytes);
        if crc != b.crc32c {
            return Err(corrupt(
                path.to_string(),
                format!("crc32c {crc:08x} != manifest {:08x}", b.crc32c),
            ));
        }
        Ok(bytes)
    }

    /// The block's footer; the first load verifies the whole file's checksum.
    pub(crate) async fn load(&self, b: &BlockMeta) -> Result<Arc<Loaded>, StorageError> {
        if let Some(l) = self.cache.lock().get(&b.id) {
            return Ok(l.clone());
        }
        let lock = self.loading.lock().entry(b.id.clone()).or_default().clone();
        let loaded = {
            let _one_load = lock.lock().await;
            let cached = self.cache.lock().get(&b.id).cloned();
            match cached {
                Some(l) => Ok(l),
                None => self.load_uncached(b).await,
            }
        };
        let mut loading = self.loading.lock();
        // The last waiter removes the lock (the map holds one reference, this one another).
        if Arc::strong_count(&lock) <= 2 {
            loading.remove(&b.id);
        }
        loaded
    }

    async fn load_uncached(&self, b: &BlockMeta) -> Result<Arc<Loaded>, StorageError> {
        let bytes = self.fetch_verified(b).await?;
        let path = block_path(&self.prefix, &b.id);
        let loc = path.to_string();
        let meta = self.footer(b, &bytes, &loc)?;
        let format = block_format(meta.metadata(), &loc)?;
        // The whole file is in memory for the checksum: take every row group's trace-id
        // bloom filter from it now, so a lookup by id never waits for one.
        let mut blooms = HashMap::new();
        let trace_col = meta
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == schema::TRACE_ID);
        // parquet-rs writes bloom filters unencrypted (hashes of trace ids only), so they
        // are read the same way from an encrypted block.
        if let Some(col) = trace_col {
            for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
                let sbbf =
                    Sbbf::read_from_column_chunk(rg.column(col), &bytes).map_err(pq(&loc))?;
                blooms.insert(i, sbbf.map(Arc::new));
            }
        }
        let loaded = Arc::new(Loaded {
            meta,
            format,
            path,
            size: b.size_bytes,
            encrypted: is_encrypted(&bytes),
            blooms: Mutex::new(blooms),
            seq: self.loads.fetch_add(1, Ordering::Relaxed),
            trace_col,
        });
        self.cache.lock().insert(b.id.clone(), loaded.clone());
        Ok(loaded)
    }

    /// The footer of a block whose bytes passed the manifest's checksum, decrypted when the
    /// block is encrypted. An encrypted block that does not open has a key that is missing or
    /// wrong, which is not damage: `Unavailable` (no quarantine), counted.
    fn footer(
        &self,
        b: &BlockMeta,
        bytes: &Bytes,
        loc: &str,
    ) -> Result<ArrowReaderMetadata, StorageError> {
        let (options, retriever) = self.read_options(bytes)?;
        match ArrowReaderMetadata::load(bytes, options) {
            Ok(m) => Ok(m),
            Err(e) if retriever.is_some() => {
                self.key_errors.inc();
                let why = retriever
                    .and_then(|r| r.refused.lock().take())
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| format!("does not decrypt with the configured key ({e})"));
                tracing::error!(block = %b.id, error = %why, "encrypted block not readable");
                Err(StorageError::Unavailable(format!("block {} {why}", b.id)))
            }
            Err(e) => Err(pq(loc)(e)),
        }
    }

    #[allow(deprecated)]
    pub(super) fn builder(
        &self,
        l: &Loaded,
    ) -> ParquetRecordBatchStreamBuilder<ParquetObjectReader> {
        let reader =
            ParquetObjectReader::new(self.store.clone(), l.path.clone()).with_file_size(l.size);
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, l.meta.clone())
    }

    pub(super) fn mask(l: &Loaded, names: &[&str]) -> ProjectionMask {
        let schema = l.meta.schema();
        let idx = names.iter().filter_map(|n| schema.index_of(n).ok());
        ProjectionMask::roots(l.meta.parquet_schema(), idx)
    }

    /// The leaf column whose dotted path is `name`. It runs for every block a lookup checks
    /// (all of them, at 50 M spans: 188), so it compares the path's parts instead of joining
    /// them into a new string per column.
    pub(super) fn leaf_index(l: &Loaded, name: &str) -> Option<usize> {
        l.meta.parquet_schema().columns().iter().position(|c| {
            name.split('.')
                .eq(c.path().parts().iter().map(String::as_str))
        })
    }

    /// The least and greatest span start of a row group from its statistics: exact for
    /// `start_time_unix_nano` (formats 1, 2); for format 3 the least trace start, and the
    /// greatest trace start plus the greatest offset (an upper bound).
    pub(super) fn start_range(
        l: &Loaded,
        rg: &parquet::file::metadata::RowGroupMetaData,
    ) -> Option<(i64, i64)> {
        use parquet::file::statistics::Statistics;
        let stats = |name: &str| match rg.column(Self::leaf_index(l, name)?).statistics() {
            Some(Statistics::Int64(s)) => Some((s.min_opt().copied()?, s.max_opt().copied()?)),
            _ => None,
        };
        if Self::leaf_index(l, schema::START).is_some() {
            return stats(schema::START);
        }
        let (min, max) = stats(schema::TRACE_START)?;
        let (_, offset) = stats(schema::START_OFFSET)?;
        Some((min, max.saturating_add(offset.max(0))))
    }

    async fn bloom(&self, l: &Loaded, rg: usize) -> Result<Option<Arc<Sbbf>>, StorageError> {
        if let Some(b) = l.blooms.lock().get(&rg) {
            return Ok(b.clone());
        }
        let Some(col) = Self::leaf_index(l, schema::TRACE_ID) else {
            return Ok(None);
        };
        let mut builder = self.builder(l);
        let sbbf = builder
            .get_row_group_column_bloom_filter(rg, col)
            .await
            .map_err(pq(l.path.as_ref()))?
            .map(Arc::new);
        l.blooms.lock().insert(rg, sbbf.clone());
        Ok(sbbf)
    }

    /// Rows of the pages of row group `rg` whose `col` statistics may hold `value`.
    pub(super) fn pages_with(
        l: &Loaded,
        rg: usize,
        col: usize,
        value: &[u8],
    ) -> Option<RowSelection> {
        let md = l.meta.metadata();
        let pages = md.page_index_for_row_group(rg);
        let Some(ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(index)) = pages.column_index(col) else {
            return None;
        };
        let locations = pages.offset_index(col)?.page_locations();
        let total = usize::try_from(md.row_group(rg).num_rows()).ok()?;
        let mut ranges = Vec::new();
        for (p, loc) in locations.iter().enumerate() {
            let start = usize::try_from(loc.first_row_index).ok()?;
            let end = match locations.get(p + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => total,
            };
            let below = index.min_value(p).is_some_and(|m| value < m);
            let above = index.max_value(p).is_some_and(|m| value > m);
            if !below && !above {
                ranges.push(start..end);
            }
        }
        Some(RowSelection::from_consecutive_ranges(
            ranges.into_iter(),
            total,
        ))
    }

    /// All spans of the traces `ids` in block `b`. Each row group is read once for all the
    /// ids its bloom filter may hold (a search's page of results is mostly in the newest row
    /// groups), and only the pages whose trace-id range holds one of them.
    pub(crate) async fn read_traces(
        &self,
        b: &BlockMeta,
        ids: &[TraceId],
    ) -> Result<Vec<DecodedRow>, StorageError> {
        let l = self.load(b).await?;
        let col = l
            .trace_col
            .ok_or_else(|| corrupt(l.path.as_ref(), "no trace_id column"))?;
        let mut groups: Vec<(usize, Vec<[u8; 16]>)> = Vec::new();
        for (i, rg) in l.meta.metadata().row_groups().iter().enumerate() {
            let stats = rg.column(col).statistics();
            let (min, max) = (
                stats.and_then(|s| s.min_bytes_opt()),
                stats.and_then(|s| s.max_bytes_opt()),
            );
            let bloom = self.bloom(&l, i).await?;
            let wanted: Vec<[u8; 16]> = ids
                .iter()
                .map(|id| id.0)
                .filter(|id| {
                    !(min.is_some_and(|m| id.as_slice() < m)
                        || max.is_some_and(|m| id.as_slice() > m))
                })
                .filter(|id| bloom.as_ref().is_none_or(|f| f.check(id.as_slice())))
                .collect();
            if !wanted.is_empty() {
                groups.push((i, wanted));
            }
        }
        // Most blocks a lookup checks hold none of its ids (their bloom filters say so).
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let loc = l.path.to_string();
        let mut batches: Vec<RecordBatch> = Vec::new();
        for (rg, mut want) in groups {
            want.sort_unstable();
            want.dedup();
            // Rows are sorted by trace id: the page index narrows the read to the pages whose
            // trace-id range holds one of the ids.
            let mut selection: Option<RowSelection> = None;
            for id in &want {
                let Some(pages) = Self::pages_with(&l, rg, col, id) else {
                    selection = None;
                    break;
                };
                selection = Some(match selection {
                    Some(s) => s.union(&pages),
                    None => pages,
                });
            }
            if selection.as_ref().is_some_and(|s| !s.selects_any()) {
                continue;
            }
            let mut got = if l.encrypted {
                self.read_group_decrypting(&l, rg, want, selection).await?
            } else {
                self.read_group(&l, rg, &want, selection).await?
            };
            batches.append(&mut got);
        }
        let mut out = Vec::new();
        for batch in &batches {
            out.extend(decode::decode_batch(batch, &loc, l.format)?);
        }
        // A trace longer than a row group continues in the next one, after other traces of
        // the first: a stable sort puts each trace's rows together again, in block order.
        out.sort_by_key(|r| r.trace);
        decode::resolve_parents(&mut out, &loc)?;
        self.skip_undecodable(&mut out, &loc);
        Ok(out)
    }

    /// [`Self::read_group`] for an encrypted block: its pages are decrypted by parquet's own
    /// reader, which takes the footer's decryptor (the pooled page path reads plain pages only).
    async fn read_group_decrypting(
        &self,
        l: &Loaded,
        rg: usize,
        want: Vec<[u8; 16]>,
        selection: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let loc = l.path.to_string();
        let pred = ArrowPredicateFn::new(Self::mask(l, &[schema::TRACE_ID]), move |batch| {
            let ids = batch
                .column(0)
                .as_fixed_size_binary_opt()
                .ok_or_else(|| ArrowError::SchemaError("trace_id type".into()))?;
            Ok((0..ids.len())
                .map(|i| {
                    Some(
                        want.binary_search_by(|w| w.as_slice().cmp(ids.value(i)))
                            .is_ok(),
                    )
                })
                .collect())
        });
        let mut builder = self
            .builder(l)
            .with_row_groups(vec![rg])
            .with_row_filter(RowFilter::new(vec![Box::new(pred)]));
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let stream = builder.build().map_err(pq(&loc))?;
        stream.try_collect().await.map_err(pq(&loc))
    }

    /// The rows of row group `rg` whose trace id is in `want` (sorted), among the rows of
    /// `selection`. The row group's bytes are fetched in one range and its zstd pages
    /// decompressed with a pooled context ([`pages`]): first the trace-id column, to find the
    /// rows, then every column of those rows.
    async fn read_group(
        &self,
        l: &Loaded,
        rg: usize,
        want: &[[u8; 16]],
        selection: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let loc = l.path.as_ref();
        let md = l.meta.metadata();
        let range = pages::row_group_range(md.row_group(rg));
        let bytes = self
            .store
            .get_range(&l.path, range.clone())
            .await
            .map_err(|e| store(&format!("reading block {loc}"), e))?;
        if bytes.len() as u64 != range.end - range.start {
            return Err(corrupt(loc, format!("short read of row group {rg}")));
        }
        let reader = pages::GroupReader::new(
            &self.zstd,
            Some((self.dicts.clone(), l.seq)),
            md,
            Some(l.meta.schema().fields()),
            rg,
            pages::Slice::new(range, bytes),
        )
        .map_err(pq(loc))?;
        let ids = reader
            .read(Self::mask(l, &[schema::TRACE_ID]), selection.clone())
            .map_err(pq(loc))?;
        let mut matched = Vec::with_capacity(ids.len());
        for batch in &ids {
            let col = batch
                .column(0)
                .as_fixed_size_binary_opt()
                .ok_or_else(|| corrupt(loc, "trace_id type"))?;
            matched.push(BooleanArray::from_iter((0..col.len()).map(|i| {
                Some(
                    want.binary_search_by(|w| w.as_slice().cmp(col.value(i)))
                        .is_ok(),
                )
            })));
        }
        let matched = RowSelection::from_filters(&matched);
        let rows = match selection {
            Some(s) => s.and_then(&matched),
            None => matched,
        };
        if !rows.selects_any() {
            return Ok(Vec::new());
        }
        reader
            .read(ProjectionMask::all(), Some(rows))
            .map_err(pq(loc))
    }

    /// Every row of block `b`, in block order, handed to `each` a few traces at a time; rows
    /// whose values do not decode are skipped (and counted: the count is returned).
    ///
    /// Rows are decoded one record batch at a time and each trace is handed on once its last
    /// row has been read (a trace's rows are contiguous in a block), so what is held at once
    /// is one batch and one trace, not the block: decoded rows take about 1.7 KB per span of
    /// the loadgen's traces, nearly four times what the head takes for the same spans.
    pub(crate) async fn read_each(
        &self,
        b: &BlockMeta,
        mut each: impl FnMut(DecodedRow),
    ) -> Result<u64, StorageError> {
        let bytes = self.fetch_verified(b).await?;
        let loc = block_path(&self.prefix, &b.id).to_string();
        let meta = self.footer(b, &bytes, &loc)?;
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::new_with_metadata(
                bytes, meta,
            );
        let format = block_format(builder.metadata(), &loc)?;
        let reader = builder.build().map_err(pq(&loc))?;
        let mut skipped = 0;
        let mut pending: Vec<DecodedRow> = Vec::new();
        let mut hand_on = |rows: &mut Vec<DecodedRow>, upto: usize| -> Result<(), StorageError> {
            let mut done: Vec<DecodedRow> = rows.drain(..upto).collect();
            decode::resolve_parents(&mut done, &loc)?;
            skipped += decode::drop_undecodable(&mut done);
            done.into_iter().for_each(&mut each);
            Ok(())
        };
        for batch in reader {
            pending.extend(decode::decode_batch(
                &batch.map_err(|e| corrupt(&loc, e))?,
                &loc,
                format,
            )?);
            // The last trace may go on in the next batch: keep it back.
            let Some(last) = pending.last().map(|r| r.trace) else {
                continue;
            };
            let complete = pending
                .iter()
                .rposition(|r| r.trace != last)
                .map_or(0, |i| i + 1);
            hand_on(&mut pending, complete)?;
        }
        let rest = pending.len();
        hand_on(&mut pending, rest)?;
        if skipped > 0 {
            self.undecodable.inc_by(skipped);
            tracing::error!(block = %loc, rows = skipped, "skipped block rows whose values do not decode");
        }
        Ok(skipped)
    }
}
