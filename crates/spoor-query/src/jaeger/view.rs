//! The Jaeger span borrowed from OTLP: the one place the JSON form of a span and its tags is
//! decided. The owned model ([`Span`], [`KeyValue`]) is made from it, and serialises through
//! it, so streamed JSON (which writes views without building the model) and the model's JSON
//! are the same bytes.

use std::borrow::Cow;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{KeyValue, Log, Reference, Span, TagValue};

/// Largest integer a JavaScript number holds exactly; beyond it int64 tags are sent as strings,
/// as the Jaeger query service does.
const JS_MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A span, fields in the model's order.
#[derive(Debug, Serialize)]
pub(crate) struct SpanView<'a> {
    #[serde(rename = "traceID")]
    pub(crate) trace_id: String,
    #[serde(rename = "spanID")]
    pub(crate) span_id: String,
    #[serde(rename = "operationName")]
    pub(crate) operation_name: &'a str,
    pub(crate) references: Vec<Reference>,
    #[serde(rename = "startTime")]
    pub(crate) start_time: u64,
    pub(crate) duration: u64,
    pub(crate) tags: Vec<TagView<'a>>,
    pub(crate) logs: Vec<LogView<'a>>,
    #[serde(rename = "processID")]
    pub(crate) process_id: &'a str,
    pub(crate) warnings: Option<Vec<String>>,
    #[serde(skip)]
    pub(crate) flags: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct LogView<'a> {
    pub(crate) timestamp: u64,
    pub(crate) fields: Vec<TagView<'a>>,
}

#[derive(Debug)]
pub(crate) struct TagView<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: ValueView<'a>,
}

#[derive(Debug)]
pub(crate) enum ValueView<'a> {
    String(Cow<'a, str>),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(&'a [u8]),
}

impl<'a> TagView<'a> {
    pub(crate) fn str(key: &'a str, value: &'a str) -> Self {
        TagView {
            key,
            value: ValueView::String(Cow::Borrowed(value)),
        }
    }

    pub(crate) fn into_owned(self) -> KeyValue {
        KeyValue::new(self.key, self.value.into_owned())
    }
}

impl ValueView<'_> {
    pub(crate) fn into_owned(self) -> TagValue {
        match self {
            ValueView::String(s) => TagValue::String(s.into_owned()),
            ValueView::Bool(b) => TagValue::Bool(b),
            ValueView::Int64(i) => TagValue::Int64(i),
            ValueView::Float64(f) => TagValue::Float64(f),
            ValueView::Binary(b) => TagValue::Binary(b.to_vec()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            ValueView::String(_) => "string",
            ValueView::Bool(_) => "bool",
            ValueView::Int64(_) => "int64",
            ValueView::Float64(_) => "float64",
            ValueView::Binary(_) => "binary",
        }
    }
}

impl<'a> From<&'a KeyValue> for TagView<'a> {
    fn from(kv: &'a KeyValue) -> Self {
        let value = match &kv.value {
            TagValue::String(s) => ValueView::String(Cow::Borrowed(s)),
            TagValue::Bool(b) => ValueView::Bool(*b),
            TagValue::Int64(i) => ValueView::Int64(*i),
            TagValue::Float64(f) => ValueView::Float64(*f),
            TagValue::Binary(b) => ValueView::Binary(b),
        };
        TagView {
            key: &kv.key,
            value,
        }
    }
}

impl Serialize for TagView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("key", self.key)?;
        map.serialize_entry("type", self.value.type_name())?;
        match &self.value {
            ValueView::String(s) => map.serialize_entry("value", s)?,
            ValueView::Bool(b) => map.serialize_entry("value", b)?,
            ValueView::Int64(i) if i.unsigned_abs() > JS_MAX_SAFE_INTEGER => {
                map.serialize_entry("value", &i.to_string())?
            }
            ValueView::Int64(i) => map.serialize_entry("value", i)?,
            ValueView::Float64(f) if f.is_finite() => map.serialize_entry("value", f)?,
            ValueView::Float64(f) => map.serialize_entry("value", &f.to_string())?,
            ValueView::Binary(b) => {
                map.serialize_entry("value", &spoor_model::attr::base64_encode(b))?
            }
        }
        map.end()
    }
}

impl SpanView<'_> {
    pub(crate) fn into_owned(self) -> Span {
        let fields = |tags: Vec<TagView<'_>>| -> Vec<KeyValue> {
            tags.into_iter().map(TagView::into_owned).collect()
        };
        Span {
            trace_id: self.trace_id,
            span_id: self.span_id,
            operation_name: self.operation_name.to_string(),
            references: self.references,
            start_time: self.start_time,
            duration: self.duration,
            tags: fields(self.tags),
            logs: self
                .logs
                .into_iter()
                .map(|l| Log {
                    timestamp: l.timestamp,
                    fields: fields(l.fields),
                })
                .collect(),
            process_id: self.process_id.to_string(),
            warnings: self.warnings,
            flags: self.flags,
        }
    }
}
