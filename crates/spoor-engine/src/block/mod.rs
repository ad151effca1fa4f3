//! Blocks: immutable Parquet files, one row per span, sorted by trace id then start time.

mod decode;
mod dict_cache;
mod encode;
mod filter;
mod pages;
mod proto;
mod reader;
mod schema;
mod search;

pub(crate) use encode::{encode_head, encode_head_sealed};
pub(crate) use reader::{Blocks, read_options, register_key_errors};
pub use schema::{FORMAT_VERSION, OLDEST_FORMAT_VERSION, block_schema};

/// What [`round_trip`] found.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    /// Spans the head accepted (valid trace id).
    pub spans_in: usize,
    /// Spans read back from the block.
    pub spans_out: usize,
    /// Rows whose values did not decode.
    pub undecodable: u64,
}

/// Encodes `batch` as a block in memory and reads every row back, as a cut and a compaction
/// would (the engine fuzz target's path). Errors are structural failures of the block.
#[doc(hidden)]
pub fn round_trip(
    batch: Vec<spoor_model::ResourceSpans>,
) -> Result<RoundTrip, spoor_storage::StorageError> {
    let mut head = crate::head::Head::default();
    head.insert_batch(batch, 0, 0);
    let encoded = encode_head(&head, "fuzz", 0, 64, 0, 0, Vec::new())?;
    let bytes = bytes::Bytes::from(encoded.bytes);
    let loc = "fuzz";
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| crate::error::corrupt(loc, e))?;
    let format = reader::block_format(builder.metadata(), loc)?;
    let mut rows = Vec::new();
    for batch in builder.build().map_err(|e| crate::error::corrupt(loc, e))? {
        let batch = batch.map_err(|e| crate::error::corrupt(loc, e))?;
        rows.extend(decode::decode_batch(&batch, loc, format)?);
    }
    decode::resolve_parents(&mut rows, loc)?;
    let undecodable = decode::drop_undecodable(&mut rows);
    Ok(RoundTrip {
        spans_in: head.len(),
        spans_out: rows.len(),
        undecodable,
    })
}
