//! A small, allocation-bounded Thrift reader and writer for the binary and compact protocols.
//!
//! Hand-written rather than generated: the Jaeger and Zipkin IDLs use a handful of structs, a
//! generic reader over both protocols is a few hundred lines, and owning it lets every length and
//! container size be checked against the bytes actually left in the datagram or body (a 5-byte
//! input cannot make us allocate gigabytes) and nesting depth be capped when skipping unknown
//! fields. The IDL the decoders follow is in `crates/spoor-receivers/idl/`.

mod reader;
mod writer;

pub use reader::Reader;
pub use writer::Writer;

/// The two wire protocols Jaeger clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `TBinaryProtocol`: big-endian fixed-width integers (Node's UDP sender, HTTP `Batch`).
    Binary,
    /// `TCompactProtocol`: zigzag varints, field-id deltas (most UDP agents' clients).
    Compact,
}

/// A Thrift value type, protocol-independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TType {
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Binary,
    Struct,
    Map,
    Set,
    List,
}

/// Thrift message types (`TMessageType`).
pub const MESSAGE_CALL: u8 = 1;
pub const MESSAGE_ONEWAY: u8 = 4;

/// Maximum nesting of structs and containers, both when decoding and when skipping.
pub const MAX_DEPTH: usize = 64;

/// Why Thrift bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThriftError {
    #[error("unexpected end of input at byte {0}")]
    Eof(usize),
    #[error("invalid thrift at byte {pos}: {detail}")]
    Invalid { pos: usize, detail: String },
    #[error("thrift nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("thrift message would decode to more than {limit} bytes")]
    TooLarge { limit: usize },
}
