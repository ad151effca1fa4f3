//! The Jaeger trace model, as the Jaeger query API's JSON and the Jaeger UI know it, built from
//! OTLP the way Jaeger's own OTLP translator builds it.

mod from_otlp;
mod stream;
#[cfg(test)]
mod tests;
mod view;

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use spoor_model::TraceId;

pub use from_otlp::tag_from_any_value;
pub use stream::{JsonChunks, json_chunks};

/// A trace: spans plus the processes they reference by id (`p1`, `p2`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub processes: BTreeMap<String, Process>,
    pub warnings: Option<Vec<String>>,
}

/// A span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<Reference>,
    /// Microseconds since the unix epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<KeyValue>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
    /// W3C trace flags (sampled bit), as Jaeger's `flags`; not in the JSON.
    #[serde(skip)]
    pub flags: u32,
}

/// A reference to another span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: RefType,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// Reference kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RefType {
    #[serde(rename = "CHILD_OF")]
    ChildOf,
    #[serde(rename = "FOLLOWS_FROM")]
    FollowsFrom,
}

/// A log (an OTLP event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Log {
    /// Microseconds since the unix epoch.
    pub timestamp: u64,
    pub fields: Vec<KeyValue>,
}

/// A process (an OTLP resource).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

/// A typed tag.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: TagValue,
}

/// Tag values in Jaeger's five types.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

impl TagValue {
    /// Jaeger's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TagValue::String(_) => "string",
            TagValue::Bool(_) => "bool",
            TagValue::Int64(_) => "int64",
            TagValue::Float64(_) => "float64",
            TagValue::Binary(_) => "binary",
        }
    }
}

/// Serialised through [`view::TagView`], the one place a tag's JSON is decided.
impl Serialize for KeyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        view::TagView::from(self).serialize(serializer)
    }
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: TagValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// A trace id the way Jaeger prints it: 16 hex digits when the high 64 bits are zero, else 32.
pub fn trace_id_string(id: &TraceId) -> String {
    if id.0[..8].iter().all(|b| *b == 0) {
        hex_string(&id.0[8..])
    } else {
        hex_string(&id.0)
    }
}

pub(crate) fn hex_string(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}
