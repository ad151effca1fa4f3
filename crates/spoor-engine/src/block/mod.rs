//! Blocks: immutable Parquet files, one row per span, sorted by trace id then start time.

mod decode;
mod encode;
mod reader;
mod schema;

pub(crate) use encode::encode_head;
pub(crate) use reader::Blocks;
pub use schema::{FORMAT_VERSION, block_schema};
