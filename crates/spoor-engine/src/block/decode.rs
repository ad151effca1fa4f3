//! Parquet rows → OTLP spans. Every column is looked up by name so partial projections and
//! blocks written by older versions (fewer columns) decode: a missing column reads as absent.
//! Only the columns that identify a row (`trace_id`) are required, and a column of the wrong
//! type is a structural failure (corrupt). A value that does not decode costs its row only:
//! the row is marked [`DecodedRow::undecodable`] and the caller skips and counts it.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type, Int64Type, UInt8Type, UInt32Type};
use arrow_array::{Array, DictionaryArray, PrimitiveArray, RecordBatch, StringArray};
use base64::Engine as _;
use prost::Message as _;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{Span, Status, TraceId};
use spoor_storage::StorageError;

use super::proto::{Events, Links};
use super::schema::{self, DEDICATED, Dedicated, value_type};
use crate::error::corrupt;

/// One span read back from a block.
pub(crate) struct DecodedRow {
    pub(crate) trace: TraceId,
    /// Position of the parent among the trace's rows in the block; see [`resolve_parents`].
    pub(crate) parent_row: Option<usize>,
    pub(crate) resource: Option<Arc<Resource>>,
    pub(crate) scope: Option<Arc<InstrumentationScope>>,
    pub(crate) span: Span,
    /// A value of this row (attribute, event, link, resource, scope) did not decode. The row
    /// keeps its place (parents are referenced by position) but is never served.
    pub(crate) undecodable: bool,
}

/// A dictionary column with each distinct value decoded once.
pub(crate) struct DecodedDict<T> {
    keys: Vec<Option<usize>>,
    /// `Err` for a value that did not decode.
    values: Vec<Result<Option<Arc<T>>, ()>>,
}

impl<T> DecodedDict<T> {
    fn empty() -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The row's value; `Err` when it did not decode.
    pub(crate) fn get(&self, row: usize) -> Result<Option<&Arc<T>>, ()> {
        let Some(k) = self.keys.get(row).copied().flatten() else {
            return Ok(None);
        };
        match self.values.get(k) {
            Some(Ok(v)) => Ok(v.as_ref()),
            Some(Err(())) => Err(()),
            None => Ok(None),
        }
    }
}

/// The generic attribute list column and its key, type and value children.
pub(crate) struct AttributeColumns<'a> {
    pub list: &'a arrow_array::ListArray,
    pub keys: &'a StringArray,
    pub types: &'a arrow_array::PrimitiveArray<UInt8Type>,
    pub values: &'a StringArray,
}

impl AttributeColumns<'_> {
    /// The item range of row `i`, clamped to the children.
    pub(crate) fn range(&self, i: usize) -> std::ops::Range<usize> {
        let offsets = self.list.value_offsets();
        let from = offsets.get(i).copied().unwrap_or(0).max(0) as usize;
        let to = offsets.get(i + 1).copied().unwrap_or(0).max(0) as usize;
        let to = to
            .min(self.keys.len())
            .min(self.values.len())
            .min(self.types.len());
        from.min(to)..to
    }
}

/// Reads the generic attribute columns of a block batch, checking their types; `None` when
/// the block has no such column.
pub(crate) fn attribute_columns<'a>(
    batch: &'a RecordBatch,
    location: &str,
) -> Result<Option<AttributeColumns<'a>>, StorageError> {
    let bad = |name: &str| corrupt(location, format!("column {name} has the wrong type"));
    let Some(list) = batch.column_by_name(schema::ATTRIBUTES) else {
        return Ok(None);
    };
    let list = list
        .as_list_opt::<i32>()
        .ok_or_else(|| bad(schema::ATTRIBUTES))?;
    let items = list
        .values()
        .as_struct_opt()
        .ok_or_else(|| bad(schema::ATTRIBUTES))?;
    let item = |i: usize| {
        items
            .columns()
            .get(i)
            .ok_or_else(|| bad(schema::ATTRIBUTES))
    };
    let keys = item(0)?
        .as_string_opt::<i32>()
        .ok_or_else(|| bad("attributes.key"))?;
    let types = item(1)?
        .as_primitive_opt::<UInt8Type>()
        .ok_or_else(|| bad("attributes.type"))?;
    let values = item(2)?
        .as_string_opt::<i32>()
        .ok_or_else(|| bad("attributes.value"))?;
    Ok(Some(AttributeColumns {
        list,
        keys,
        types,
        values,
    }))
}

pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    location: &str,
) -> Result<&'a Arc<dyn Array>, StorageError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| corrupt(location, format!("column {name} missing")))
}

pub(crate) fn dict<'a>(
    batch: &'a RecordBatch,
    name: &str,
    location: &str,
) -> Result<(&'a DictionaryArray<Int32Type>, &'a StringArray), StorageError> {
    let d = column(batch, name, location)?
        .as_dictionary_opt::<Int32Type>()
        .ok_or_else(|| corrupt(location, format!("column {name} is not a dictionary")))?;
    let values = d
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| corrupt(location, format!("column {name} has non-string values")))?;
    Ok((d, values))
}

/// A message stored in a v1 block as OTLP/JSON and in a v2 block as protobuf.
pub(crate) trait Stored: Sized {
    fn from_json(s: &str) -> Option<Self>;
    fn from_proto(b: &[u8]) -> Option<Self>;
}

macro_rules! stored {
    ($t:ty) => {
        impl Stored for $t {
            fn from_json(s: &str) -> Option<Self> {
                serde_json::from_str(s).ok()
            }
            fn from_proto(b: &[u8]) -> Option<Self> {
                <$t>::decode(b).ok()
            }
        }
    };
}
stored!(Resource);
stored!(InstrumentationScope);

impl Stored for Vec<Event> {
    fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
    fn from_proto(b: &[u8]) -> Option<Self> {
        Events::decode(b).ok().map(|e| e.events)
    }
}

impl Stored for Vec<Link> {
    fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
    fn from_proto(b: &[u8]) -> Option<Self> {
        Links::decode(b).ok().map(|l| l.links)
    }
}

/// Decodes a dictionary column of resources or scopes (OTLP/JSON strings in format 1,
/// protobuf bytes from format 2), each distinct value once. A missing column is all null.
pub(crate) fn decode_dict<T: Stored>(
    batch: &RecordBatch,
    name: &str,
    location: &str,
    format: u32,
) -> Result<DecodedDict<T>, StorageError> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(DecodedDict::empty());
    };
    let d = col
        .as_dictionary_opt::<Int32Type>()
        .ok_or_else(|| corrupt(location, format!("column {name} is not a dictionary")))?;
    let wrong = || corrupt(location, format!("column {name} has the wrong value type"));
    let mut decoded = Vec::with_capacity(d.values().len());
    if format == 1 {
        let values = d.values().as_string_opt::<i32>().ok_or_else(wrong)?;
        for i in 0..values.len() {
            // Null rows may leave an empty placeholder value in the dictionary.
            if values.is_null(i) || values.value(i).is_empty() {
                decoded.push(Ok(None));
            } else {
                decoded.push(
                    T::from_json(values.value(i))
                        .map(|v| Some(Arc::new(v)))
                        .ok_or(()),
                );
            }
        }
    } else {
        let values = d.values().as_binary_opt::<i32>().ok_or_else(wrong)?;
        for i in 0..values.len() {
            if values.is_null(i) {
                decoded.push(Ok(None));
            } else {
                decoded.push(
                    T::from_proto(values.value(i))
                        .map(|v| Some(Arc::new(v)))
                        .ok_or(()),
                );
            }
        }
    }
    let keys = (0..d.len())
        .map(|i| {
            if d.is_null(i) {
                None
            } else {
                usize::try_from(d.keys().value(i)).ok()
            }
        })
        .collect();
    Ok(DecodedDict {
        keys,
        values: decoded,
    })
}

/// A nullable column of events or links: OTLP/JSON strings (format 1) or protobuf bytes
/// (format 2). A missing column is all null.
pub(crate) enum ListColumn<'a> {
    Missing,
    Json(&'a StringArray),
    Proto(&'a arrow_array::BinaryArray),
}

impl<'a> ListColumn<'a> {
    pub(crate) fn new(
        batch: &'a RecordBatch,
        name: &str,
        location: &str,
        format: u32,
    ) -> Result<Self, StorageError> {
        let Some(c) = batch.column_by_name(name) else {
            return Ok(ListColumn::Missing);
        };
        let wrong = || corrupt(location, format!("column {name} has the wrong type"));
        Ok(if format == 1 {
            ListColumn::Json(c.as_string_opt::<i32>().ok_or_else(wrong)?)
        } else {
            ListColumn::Proto(c.as_binary_opt::<i32>().ok_or_else(wrong)?)
        })
    }

    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            ListColumn::Missing => true,
            ListColumn::Json(a) => a.is_null(i),
            ListColumn::Proto(a) => a.is_null(i),
        }
    }

    /// The row's items; `Err` when they do not decode.
    pub(crate) fn get<T: Stored + Default>(&self, i: usize) -> Result<T, ()> {
        if self.is_null(i) {
            return Ok(T::default());
        }
        match self {
            ListColumn::Missing => Ok(T::default()),
            ListColumn::Json(a) => T::from_json(a.value(i)).ok_or(()),
            ListColumn::Proto(a) => T::from_proto(a.value(i)).ok_or(()),
        }
    }
}

/// Parses a value stored in `attributes.value` with its type tag: `Ok(None)` for an
/// attribute stored without a value, `Err` when the stored string does not decode.
pub(crate) fn decode_value(t: u8, s: &str) -> Result<Option<Value>, ()> {
    let parsed = |ok: Option<Value>| ok.map(Some).ok_or(());
    match t {
        value_type::STRING => Ok(Some(Value::StringValue(s.to_string()))),
        value_type::BOOL => parsed(s.parse().ok().map(Value::BoolValue)),
        value_type::INT => parsed(s.parse().ok().map(Value::IntValue)),
        value_type::DOUBLE => parsed(s.parse().ok().map(Value::DoubleValue)),
        value_type::BYTES => parsed(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .map(Value::BytesValue),
        ),
        value_type::JSON => serde_json::from_str::<AnyValue>(s)
            .map(|a| a.value)
            .map_err(|_| ()),
        value_type::PROTO => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| ())?;
            AnyValue::decode(bytes.as_slice())
                .map(|a| a.value)
                .map_err(|_| ())
        }
        _ => Err(()),
    }
}

/// The span start times of a batch: `start_time_unix_nano` (formats 1 and 2), or the trace's
/// start plus the span's offset (format 3). Missing columns read as 0.
pub(crate) enum Starts<'a> {
    Missing,
    Absolute(&'a PrimitiveArray<Int64Type>),
    Relative(
        &'a PrimitiveArray<Int64Type>,
        Option<&'a PrimitiveArray<Int64Type>>,
    ),
}

impl<'a> Starts<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, location: &str) -> Result<Self, StorageError> {
        let int = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| {
                    c.as_primitive_opt::<Int64Type>().ok_or_else(|| {
                        corrupt(location, format!("column {name} has the wrong type"))
                    })
                })
                .transpose()
        };
        if let Some(a) = int(schema::START)? {
            return Ok(Starts::Absolute(a));
        }
        Ok(match int(schema::TRACE_START)? {
            Some(t) => Starts::Relative(t, int(schema::START_OFFSET)?),
            None => Starts::Missing,
        })
    }

    /// The start of row `i` in Unix nanoseconds.
    pub(crate) fn value(&self, i: usize) -> u64 {
        match self {
            Starts::Missing => 0,
            Starts::Absolute(a) => a.value(i).max(0) as u64,
            Starts::Relative(t, o) => {
                let sum = i128::from(t.value(i)) + i128::from(o.map_or(0, |o| o.value(i)));
                sum.clamp(0, i128::from(u64::MAX)) as u64
            }
        }
    }
}

fn opt_str(a: Option<&StringArray>, i: usize) -> String {
    match a {
        Some(a) if !a.is_null(i) => a.value(i).to_string(),
        _ => String::new(),
    }
}

/// Decodes every row of a batch of a block of format `format`. Missing columns read as
/// absent; a wrong column type is corrupt; a value that does not decode marks its row.
pub(crate) fn decode_batch(
    batch: &RecordBatch,
    location: &str,
    format: u32,
) -> Result<Vec<DecodedRow>, StorageError> {
    let bad = |name: &str| corrupt(location, format!("column {name} has the wrong type"));
    // Identity columns may be left out of a projection (search only matches spans).
    let fsb = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_fixed_size_binary_opt().ok_or_else(|| bad(name)))
            .transpose()
    };
    let trace_id = fsb(schema::TRACE_ID)?;
    let span_id = fsb(schema::SPAN_ID)?;
    let parent = fsb(schema::PARENT_SPAN_ID)?;
    macro_rules! optional {
        ($name:expr, $cast:ident $(::<$t:ty>)?) => {
            batch
                .column_by_name($name)
                .map(|c| c.$cast$(::<$t>)?().ok_or_else(|| bad($name)))
                .transpose()?
        };
    }
    let parent_row = optional!(schema::PARENT_ROW, as_primitive_opt::<Int32Type>);
    let trace_state = optional!(schema::TRACE_STATE, as_string_opt::<i32>);
    let status_message = optional!(schema::STATUS_MESSAGE, as_string_opt::<i32>);
    let flags = optional!(schema::FLAGS, as_primitive_opt::<UInt32Type>);
    let kind = optional!(schema::KIND, as_primitive_opt::<Int8Type>);
    let status_code = optional!(schema::STATUS_CODE, as_primitive_opt::<Int8Type>);
    let start = Starts::new(batch, location)?;
    let duration = optional!(schema::DURATION, as_primitive_opt::<Int64Type>);
    let names = batch
        .column_by_name(schema::NAME)
        .map(|_| dict(batch, schema::NAME, location))
        .transpose()?;
    let events = ListColumn::new(batch, schema::EVENTS, location, format)?;
    let links = ListColumn::new(batch, schema::LINKS, location, format)?;
    let resources = decode_dict::<Resource>(batch, schema::RESOURCE, location, format)?;
    let scopes = decode_dict::<InstrumentationScope>(batch, schema::SCOPE, location, format)?;
    let attrs = attribute_columns(batch, location)?;
    let dropped = optional!(schema::DROPPED, as_struct_opt);
    let dropped_col = |i: usize| {
        dropped
            .map(|d| {
                d.columns()
                    .get(i)
                    .and_then(|c| c.as_primitive_opt::<UInt32Type>())
                    .ok_or_else(|| bad(schema::DROPPED))
            })
            .transpose()
    };
    let (d_attr, d_events, d_links) = (dropped_col(0)?, dropped_col(1)?, dropped_col(2)?);
    let mut typed = Vec::new();
    for name in [
        schema::ATTRIBUTES_INT,
        schema::ATTRIBUTES_DOUBLE,
        schema::ATTRIBUTES_BOOL,
    ] {
        if batch.column_by_name(name).is_some() {
            typed.push(TypedList::new(batch, name, location)?);
        }
    }
    let mut dedicated = Vec::with_capacity(DEDICATED.len());
    for (key, col, ty) in DEDICATED {
        let Some(c) = batch.column_by_name(col) else {
            continue;
        };
        let ok = match ty {
            Dedicated::Str => c.as_string_opt::<i32>().is_some(),
            Dedicated::Int => c.as_primitive_opt::<Int64Type>().is_some(),
        };
        if !ok {
            return Err(bad(col));
        }
        dedicated.push((*key, *ty, c));
    }

    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut undecodable = false;
        let trace = match trace_id {
            Some(a) => TraceId::from_bytes(a.value(i))
                .map_err(|e| corrupt(location, format!("trace id: {e}")))?,
            None => TraceId::default(),
        };
        let mut attributes = Vec::new();
        for (key, ty, c) in &dedicated {
            if c.is_null(i) {
                continue;
            }
            let v = match ty {
                Dedicated::Str => c
                    .as_string_opt::<i32>()
                    .map(|a| Value::StringValue(a.value(i).to_string())),
                Dedicated::Int => c
                    .as_primitive_opt::<Int64Type>()
                    .map(|a| Value::IntValue(a.value(i))),
            };
            attributes.push(KeyValue {
                key: key.to_string(),
                value: Some(AnyValue { value: v }),
                ..Default::default()
            });
        }
        if let Some(a) = &attrs {
            for j in a.range(i) {
                match decode_value(a.types.value(j), a.values.value(j)) {
                    Ok(value) => attributes.push(KeyValue {
                        key: a.keys.value(j).to_string(),
                        value: Some(AnyValue { value }),
                        ..Default::default()
                    }),
                    Err(()) => undecodable = true,
                }
            }
        }
        for list in &typed {
            list.push_row(i, &mut attributes);
        }
        let name = names
            .and_then(|(keys, values)| {
                (!keys.is_null(i))
                    .then(|| usize::try_from(keys.keys().value(i)).ok())
                    .flatten()
                    .filter(|k| *k < values.len())
                    .map(|k| values.value(k).to_string())
            })
            .unwrap_or_default();
        let start_ns = start.value(i);
        let dur = duration.map(|a| a.value(i)).unwrap_or(0);
        let end_ns = (i128::from(start_ns) + i128::from(dur)).max(0) as u64;
        let events: Vec<Event> = events.get(i).unwrap_or_else(|()| {
            undecodable = true;
            Vec::new()
        });
        let links: Vec<Link> = links.get(i).unwrap_or_else(|()| {
            undecodable = true;
            Vec::new()
        });
        let resource = resources.get(i).map(|r| r.cloned()).unwrap_or_else(|()| {
            undecodable = true;
            None
        });
        let scope = scopes.get(i).map(|s| s.cloned()).unwrap_or_else(|()| {
            undecodable = true;
            None
        });
        let code = status_code.map(|a| i32::from(a.value(i))).unwrap_or(0);
        let message = opt_str(status_message, i);
        let span = Span {
            trace_id: trace.0.to_vec(),
            span_id: span_id.map(|a| a.value(i).to_vec()).unwrap_or_default(),
            trace_state: opt_str(trace_state, i),
            parent_span_id: parent
                .filter(|a| !a.is_null(i))
                .map(|a| a.value(i).to_vec())
                .unwrap_or_default(),
            flags: flags.map(|a| a.value(i)).unwrap_or(0),
            name,
            kind: kind.map(|a| i32::from(a.value(i))).unwrap_or(0),
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns,
            attributes,
            dropped_attributes_count: d_attr.map(|a| a.value(i)).unwrap_or(0),
            events,
            dropped_events_count: d_events.map(|a| a.value(i)).unwrap_or(0),
            links,
            dropped_links_count: d_links.map(|a| a.value(i)).unwrap_or(0),
            status: (code != 0 || !message.is_empty()).then_some(Status { message, code }),
        };
        out.push(DecodedRow {
            trace,
            parent_row: parent_row
                .filter(|a| !a.is_null(i))
                .and_then(|a| usize::try_from(a.value(i)).ok()),
            resource,
            scope,
            span,
            undecodable,
        });
    }
    Ok(out)
}

/// Drops the rows that did not decode, returning how many were dropped. Call after
/// [`resolve_parents`], which needs every row in place.
pub(crate) fn drop_undecodable(rows: &mut Vec<DecodedRow>) -> u64 {
    let before = rows.len();
    rows.retain(|r| !r.undecodable);
    (before - rows.len()) as u64
}

/// Fills `parent_span_id` of rows whose parent is referenced by position. `rows` must hold
/// every row of each of its traces in the block, in block order (as trace-by-id and full
/// reads return them).
pub(crate) fn resolve_parents(rows: &mut [DecodedRow], location: &str) -> Result<(), StorageError> {
    let mut start = 0;
    while start < rows.len() {
        let trace = rows[start].trace;
        let mut end = start;
        while end < rows.len() && rows[end].trace == trace {
            end += 1;
        }
        for i in start..end {
            if let Some(p) = rows[i].parent_row {
                let id = rows
                    .get(start + p)
                    .filter(|_| start + p < end)
                    .map(|r| r.span.span_id.clone())
                    .ok_or_else(|| corrupt(location, format!("parent_row {p} out of range")))?;
                rows[i].span.parent_span_id = id;
            }
        }
        start = end;
    }
    Ok(())
}

/// One of the typed attribute lists (`attributes_int`, `_double`, `_bool`).
pub(crate) struct TypedList<'a> {
    offsets: &'a [i32],
    keys: &'a StringArray,
    values: &'a Arc<dyn Array>,
}

impl<'a> TypedList<'a> {
    pub(crate) fn new(
        batch: &'a RecordBatch,
        name: &str,
        location: &str,
    ) -> Result<Self, StorageError> {
        let bad = || corrupt(location, format!("column {name} has the wrong type"));
        let list = column(batch, name, location)?
            .as_list_opt::<i32>()
            .ok_or_else(bad)?;
        let items = list.values().as_struct_opt().ok_or_else(bad)?;
        let keys = items
            .columns()
            .first()
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(bad)?;
        let values = items.columns().get(1).ok_or_else(bad)?;
        let last = list.value_offsets().last().copied().unwrap_or(0);
        if usize::try_from(last).map_or(true, |l| l > keys.len() || l > values.len()) {
            return Err(bad());
        }
        Ok(Self {
            offsets: list.value_offsets(),
            keys,
            values,
        })
    }

    fn range(&self, row: usize) -> std::ops::Range<usize> {
        let from = self.offsets.get(row).copied().unwrap_or(0).max(0) as usize;
        let to = self.offsets.get(row + 1).copied().unwrap_or(0).max(0) as usize;
        from..to.max(from)
    }

    /// The value at `j` as an OTLP value.
    fn value(&self, j: usize) -> Option<Value> {
        if let Some(a) = self.values.as_primitive_opt::<Int64Type>() {
            return Some(Value::IntValue(a.value(j)));
        }
        if let Some(a) = self
            .values
            .as_primitive_opt::<arrow_array::types::Float64Type>()
        {
            return Some(Value::DoubleValue(a.value(j)));
        }
        self.values
            .as_boolean_opt()
            .map(|a| Value::BoolValue(a.value(j)))
    }

    fn push_row(&self, row: usize, out: &mut Vec<KeyValue>) {
        for j in self.range(row) {
            if let Some(v) = self.value(j) {
                out.push(KeyValue {
                    key: self.keys.value(j).to_string(),
                    value: Some(AnyValue { value: Some(v) }),
                    ..Default::default()
                });
            }
        }
    }

    /// True when row `row` has `key` with a value satisfying `m`.
    pub(crate) fn matches(&self, row: usize, key: &str, m: &spoor_storage::ValueMatch) -> bool {
        self.range(row).any(|j| {
            self.keys.value(j) == key
                && self
                    .value(j)
                    .is_some_and(|v| m.matches(Some(&AnyValue { value: Some(v) })))
        })
    }
}
