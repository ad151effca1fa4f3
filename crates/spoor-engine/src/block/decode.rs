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
    let trace_id = column(batch, schema::TRACE_ID, location)?
        .as_fixed_size_binary_opt()
        .ok_or_else(|| bad(schema::TRACE_ID))?;
    let span_id = column(batch, schema::SPAN_ID, location)?
        .as_fixed_size_binary_opt()
        .ok_or_else(|| bad(schema::SPAN_ID))?;
    let parent = column(batch, schema::PARENT_SPAN_ID, location)?
        .as_fixed_size_binary_opt()
        .ok_or_else(|| bad(schema::PARENT_SPAN_ID))?;
    let str_col = |name: &str| -> Result<&StringArray, StorageError> {
        column(batch, name, location)?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad(name))
    };
    let trace_state = str_col(schema::TRACE_STATE)?;
    let status_message = str_col(schema::STATUS_MESSAGE)?;
    let events = str_col(schema::EVENTS)?;
    let links = str_col(schema::LINKS)?;
    let flags = column(batch, schema::FLAGS, location)?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| bad(schema::FLAGS))?;
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
    let attrs = column(batch, schema::ATTRIBUTES, location)?
        .as_list_opt::<i32>()
        .ok_or_else(|| bad(schema::ATTRIBUTES))?;
    let items = attrs
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
    let dropped = column(batch, schema::DROPPED, location)?
        .as_struct_opt()
        .ok_or_else(|| bad(schema::DROPPED))?;
    let dropped_col = |i: usize| {
        dropped
            .columns()
            .get(i)
            .and_then(|c| c.as_primitive_opt::<UInt32Type>())
            .ok_or_else(|| bad(schema::DROPPED))
    };
    let (d_attr, d_events, d_links) = (dropped_col(0)?, dropped_col(1)?, dropped_col(2)?);
    let mut dedicated = Vec::with_capacity(DEDICATED.len());
    for (_, col, _) in DEDICATED {
        dedicated.push(column(batch, col, location)?);
    }

    let mut out = Vec::with_capacity(batch.num_rows());
    let offsets = attrs.value_offsets();
    for i in 0..batch.num_rows() {
        let trace = TraceId::from_bytes(trace_id.value(i))
            .map_err(|e| corrupt(location, format!("trace id: {e}")))?;
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
            span_id: span_id.value(i).to_vec(),
            trace_state: opt_str(trace_state, i),
            parent_span_id: if parent.is_null(i) {
                Vec::new()
            } else {
                parent.value(i).to_vec()
            },
            flags: flags.value(i),
            name,
            kind: i32::from(kind.value(i)),
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns,
            attributes,
            dropped_attributes_count: d_attr.value(i),
            events,
            dropped_events_count: d_events.value(i),
            links,
            dropped_links_count: d_links.value(i),
            status: (code != 0 || !message.is_empty()).then_some(Status { message, code }),
        };
        out.push(DecodedRow {
            resource: resources.get(i).cloned(),
            scope: scopes.get(i).cloned(),
            span,
        });
    }
    Ok(out)
}
