//! Parquet rows → OTLP spans. Every column is looked up by name so partial projections work.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type, Int64Type, UInt8Type, UInt32Type};
use arrow_array::{Array, DictionaryArray, RecordBatch, StringArray};
use base64::Engine as _;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{Span, Status, TraceId};
use spoor_storage::StorageError;

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
}

/// A dictionary column with each distinct value decoded once.
pub(crate) struct DecodedDict<T> {
    keys: Vec<Option<usize>>,
    values: Vec<Option<Arc<T>>>,
}

impl<T> DecodedDict<T> {
    pub(crate) fn get(&self, row: usize) -> Option<&Arc<T>> {
        self.keys
            .get(row)
            .copied()
            .flatten()
            .and_then(|k| self.values.get(k))
            .and_then(|v| v.as_ref())
    }
}

/// The generic attribute list column and its key, type and value children.
pub(crate) struct AttributeColumns<'a> {
    pub list: &'a arrow_array::ListArray,
    pub keys: &'a StringArray,
    pub types: &'a arrow_array::PrimitiveArray<UInt8Type>,
    pub values: &'a StringArray,
}

/// Reads the generic attribute columns of a block batch, checking their types.
pub(crate) fn attribute_columns<'a>(
    batch: &'a RecordBatch,
    location: &str,
) -> Result<AttributeColumns<'a>, StorageError> {
    let bad = |name: &str| corrupt(location, format!("column {name} has the wrong type"));
    let list = column(batch, schema::ATTRIBUTES, location)?
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
    Ok(AttributeColumns {
        list,
        keys,
        types,
        values,
    })
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

/// Decodes a dictionary column of OTLP/JSON values, each distinct value once.
pub(crate) fn decode_json_dict<T: serde::de::DeserializeOwned>(
    batch: &RecordBatch,
    name: &str,
    location: &str,
) -> Result<DecodedDict<T>, StorageError> {
    let (d, values) = dict(batch, name, location)?;
    let mut decoded = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        // Null rows may leave an empty placeholder value in the dictionary.
        if values.is_null(i) || values.value(i).is_empty() {
            decoded.push(None);
            continue;
        }
        let v: T = serde_json::from_str(values.value(i))
            .map_err(|e| corrupt(location, format!("column {name}: {e}")))?;
        decoded.push(Some(Arc::new(v)));
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

/// Parses a value stored in `attributes.value` with its type tag.
pub(crate) fn decode_value(t: u8, s: &str) -> Option<Value> {
    Some(match t {
        value_type::STRING => Value::StringValue(s.to_string()),
        value_type::BOOL => Value::BoolValue(s.parse().ok()?),
        value_type::INT => Value::IntValue(s.parse().ok()?),
        value_type::DOUBLE => Value::DoubleValue(s.parse().ok()?),
        value_type::BYTES => {
            Value::BytesValue(base64::engine::general_purpose::STANDARD.decode(s).ok()?)
        }
        _ => serde_json::from_str::<AnyValue>(s).ok()?.value?,
    })
}

fn opt_str(a: &StringArray, i: usize) -> String {
    if a.is_null(i) {
        String::new()
    } else {
        a.value(i).to_string()
    }
}

/// Decodes every row of a batch that carries all columns.
pub(crate) fn decode_batch(
    batch: &RecordBatch,
    location: &str,
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
    let parent_row = batch
        .column_by_name(schema::PARENT_ROW)
        .map(|c| {
            c.as_primitive_opt::<Int32Type>()
                .ok_or_else(|| bad(schema::PARENT_ROW))
        })
        .transpose()?;
    let str_col = |name: &str| -> Result<&StringArray, StorageError> {
        column(batch, name, location)?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad(name))
    };
    let trace_state = batch
        .column_by_name(schema::TRACE_STATE)
        .map(|c| {
            c.as_string_opt::<i32>()
                .ok_or_else(|| bad(schema::TRACE_STATE))
        })
        .transpose()?;
    let status_message = str_col(schema::STATUS_MESSAGE)?;
    let events = str_col(schema::EVENTS)?;
    let links = str_col(schema::LINKS)?;
    let flags = batch
        .column_by_name(schema::FLAGS)
        .map(|c| {
            c.as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| bad(schema::FLAGS))
        })
        .transpose()?;
    let kind = column(batch, schema::KIND, location)?
        .as_primitive_opt::<Int8Type>()
        .ok_or_else(|| bad(schema::KIND))?;
    let status_code = column(batch, schema::STATUS_CODE, location)?
        .as_primitive_opt::<Int8Type>()
        .ok_or_else(|| bad(schema::STATUS_CODE))?;
    let start = column(batch, schema::START, location)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad(schema::START))?;
    let duration = column(batch, schema::DURATION, location)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad(schema::DURATION))?;
    let (name_keys, name_values) = dict(batch, schema::NAME, location)?;
    let resources = decode_json_dict::<Resource>(batch, schema::RESOURCE, location)?;
    let scopes = decode_json_dict::<InstrumentationScope>(batch, schema::SCOPE, location)?;
    let AttributeColumns {
        list: attrs,
        keys,
        types,
        values,
    } = attribute_columns(batch, location)?;
    let dropped = batch
        .column_by_name(schema::DROPPED)
        .map(|c| c.as_struct_opt().ok_or_else(|| bad(schema::DROPPED)))
        .transpose()?;
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
    let typed = [
        TypedList::new(batch, schema::ATTRIBUTES_INT, location)?,
        TypedList::new(batch, schema::ATTRIBUTES_DOUBLE, location)?,
        TypedList::new(batch, schema::ATTRIBUTES_BOOL, location)?,
    ];
    let mut dedicated = Vec::with_capacity(DEDICATED.len());
    for (_, col, _) in DEDICATED {
        dedicated.push(column(batch, col, location)?);
    }

    let mut out = Vec::with_capacity(batch.num_rows());
    let offsets = attrs.value_offsets();
    for i in 0..batch.num_rows() {
        let trace = match trace_id {
            Some(a) => TraceId::from_bytes(a.value(i))
                .map_err(|e| corrupt(location, format!("trace id: {e}")))?,
            None => TraceId::default(),
        };
        let mut attributes = Vec::new();
        for (j, (key, _, ty)) in DEDICATED.iter().enumerate() {
            let c = &dedicated[j];
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
            }
            .ok_or_else(|| bad(key))?;
            attributes.push(KeyValue {
                key: key.to_string(),
                value: Some(AnyValue { value: Some(v) }),
                ..Default::default()
            });
        }
        let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
        for j in from..to.min(keys.len()) {
            let value = decode_value(types.value(j), values.value(j))
                .ok_or_else(|| corrupt(location, "undecodable attribute value"))?;
            attributes.push(KeyValue {
                key: keys.value(j).to_string(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            });
        }
        for list in &typed {
            list.push_row(i, &mut attributes);
        }
        let name = name_keys
            .keys()
            .value(i)
            .try_into()
            .ok()
            .filter(|k: &usize| *k < name_values.len())
            .map(|k| name_values.value(k).to_string())
            .unwrap_or_default();
        let start_ns = start.value(i).max(0) as u64;
        let end_ns = (i128::from(start_ns) + i128::from(duration.value(i))).max(0) as u64;
        let events: Vec<Event> = if events.is_null(i) {
            Vec::new()
        } else {
            serde_json::from_str(events.value(i))
                .map_err(|e| corrupt(location, format!("events: {e}")))?
        };
        let links: Vec<Link> = if links.is_null(i) {
            Vec::new()
        } else {
            serde_json::from_str(links.value(i))
                .map_err(|e| corrupt(location, format!("links: {e}")))?
        };
        let code = i32::from(status_code.value(i));
        let message = opt_str(status_message, i);
        let span = Span {
            trace_id: trace.0.to_vec(),
            span_id: span_id.map(|a| a.value(i).to_vec()).unwrap_or_default(),
            trace_state: trace_state.map(|a| opt_str(a, i)).unwrap_or_default(),
            parent_span_id: parent
                .filter(|a| !a.is_null(i))
                .map(|a| a.value(i).to_vec())
                .unwrap_or_default(),
            flags: flags.map(|a| a.value(i)).unwrap_or(0),
            name,
            kind: i32::from(kind.value(i)),
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
            resource: resources.get(i).cloned(),
            scope: scopes.get(i).cloned(),
            span,
        });
    }
    Ok(out)
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

    /// True when row `row` has `key` with string form `value`.
    pub(crate) fn has(&self, row: usize, key: &str, value: &str) -> bool {
        self.range(row).any(|j| {
            self.keys.value(j) == key
                && self.value(j).is_some_and(|v| {
                    spoor_model::attr::value_to_string(Some(&AnyValue { value: Some(v) })) == value
                })
        })
    }
}
