//! Search predicates evaluated column by column on Arrow arrays, without decoding spans.
//!
//! [`cheap_filter`] checks service, operation, start and duration; [`tag_filter`] checks the
//! tags of a query on the few columns a tag can live in. Together they give exactly the
//! answer of [`spoor_storage::SpanMatcher`] on the decoded span (the engine's tests compare
//! them on random data), including "a row with a value that does not decode never matches".

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int64Type};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::ArrowError;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_storage::{StorageError, TraceQuery};
use spoor_telemetry::metrics::counter::Counter;

use super::decode;
use super::schema::{self, DEDICATED, Dedicated, value_type};
use crate::error::corrupt;

fn arrow_err(e: StorageError) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}

/// Columns [`cheap_filter`] reads (a block has either `START` or, from format 3, the trace's
/// start and the span's offset from it).
pub(crate) const CHEAP_COLUMNS: [&str; 6] = [
    schema::SERVICE,
    schema::NAME,
    schema::START,
    schema::TRACE_START,
    schema::START_OFFSET,
    schema::DURATION,
];

/// Service, operation, start and duration, evaluated column-wise.
pub(crate) fn cheap_filter(
    batch: &RecordBatch,
    q: &TraceQuery,
) -> Result<BooleanArray, ArrowError> {
    let loc = "search";
    let n = batch.num_rows();
    let mut keep = vec![true; n];
    for (col, want) in [(schema::SERVICE, &q.service), (schema::NAME, &q.operation)] {
        let Some(want) = want.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let (keys, values) = decode::dict(batch, col, loc).map_err(arrow_err)?;
        let ok: HashSet<i32> = (0..values.len())
            .filter(|i| !values.is_null(*i) && values.value(*i) == want)
            .filter_map(|i| i32::try_from(i).ok())
            .collect();
        for (i, k) in keep.iter_mut().enumerate() {
            *k = *k && !keys.is_null(i) && ok.contains(&keys.keys().value(i));
        }
    }
    let start = decode::Starts::new(batch, loc).map_err(arrow_err)?;
    let duration = decode::column(batch, schema::DURATION, loc)
        .map_err(arrow_err)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| ArrowError::SchemaError("duration type".into()))?;
    for (i, k) in keep.iter_mut().enumerate() {
        if !*k {
            continue;
        }
        let s = start.value(i);
        let d = duration.value(i).max(0) as u64;
        *k = !(q.start_min.is_some_and(|m| s < m)
            || q.start_max.is_some_and(|m| s > m)
            || q.duration_min.is_some_and(|m| d < m)
            || q.duration_max.is_some_and(|m| d > m));
    }
    Ok(keep.into_iter().map(Some).collect())
}

/// Tags Jaeger derives from span fields rather than attributes (see `synthetic_tag`).
const SYNTHETIC: &[&str] = &[
    "error",
    "span.kind",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "otel.scope.version",
];

/// The columns [`tag_filter`] reads for `q`: every place a tag can be stored, the dedicated
/// columns of the query's keys only, and the span fields synthetic tags come from. Wide
/// columns that cannot hold the query's keys (statements, URLs, ids) are not read.
pub(crate) fn tag_columns(q: &TraceQuery) -> Vec<&'static str> {
    let mut cols = vec![
        schema::ATTRIBUTES,
        schema::ATTRIBUTES_INT,
        schema::ATTRIBUTES_DOUBLE,
        schema::ATTRIBUTES_BOOL,
        schema::RESOURCE,
        schema::SCOPE,
        schema::EVENTS,
        schema::LINKS,
    ];
    for (key, _) in &q.attributes {
        if let Some((_, col, _)) = DEDICATED.iter().find(|(k, _, _)| k == key) {
            cols.push(col);
        }
        if SYNTHETIC.contains(&key.as_str()) {
            cols.extend([schema::KIND, schema::STATUS_CODE, schema::STATUS_MESSAGE]);
        }
    }
    cols.sort_unstable();
    cols.dedup();
    cols
}

fn in_attrs(kvs: &[KeyValue], key: &str, value: &str) -> bool {
    kvs.iter()
        .any(|kv| kv.key == key && spoor_model::attr::value_to_string(kv.value.as_ref()) == value)
}

/// The stored generic attribute `j` has string form `value` (as the decoded span would).
fn stored_value_is(a: &decode::AttributeColumns<'_>, j: usize, value: &str) -> bool {
    let (t, s) = (a.types.value(j), a.values.value(j));
    if t == value_type::STRING {
        return s == value;
    }
    decode::decode_value(t, s)
        .is_ok_and(|v| spoor_model::attr::value_to_string(Some(&AnyValue { value: v })) == value)
}

/// Exactly [`spoor_storage::SpanMatcher`]'s tag conditions of `q`, on the columns named by
/// [`tag_columns`]. A row with a value that does not decode is never a match (it is never
/// served) and is counted in `undecodable`.
pub(crate) fn tag_filter(
    batch: &RecordBatch,
    q: &TraceQuery,
    loc: &str,
    format: u32,
    undecodable: &Counter,
) -> Result<BooleanArray, ArrowError> {
    tag_matches(batch, q, loc, format, undecodable)
        .map(|keep| keep.into_iter().map(Some).collect())
        .map_err(arrow_err)
}

fn tag_matches(
    batch: &RecordBatch,
    q: &TraceQuery,
    loc: &str,
    format: u32,
    undecodable: &Counter,
) -> Result<Vec<bool>, StorageError> {
    let n = batch.num_rows();
    let mut ok = vec![true; n];
    let bad = |name: &str| corrupt(loc, format!("column {name} has the wrong type"));
    let resources = decode::decode_dict::<Resource>(batch, schema::RESOURCE, loc, format)?;
    let scopes = decode::decode_dict::<InstrumentationScope>(batch, schema::SCOPE, loc, format)?;
    let events = decode::ListColumn::new(batch, schema::EVENTS, loc, format)?;
    let links = decode::ListColumn::new(batch, schema::LINKS, loc, format)?;
    let attrs = decode::attribute_columns(batch, loc)?;
    let mut typed = Vec::new();
    for name in [
        schema::ATTRIBUTES_INT,
        schema::ATTRIBUTES_DOUBLE,
        schema::ATTRIBUTES_BOOL,
    ] {
        if batch.column_by_name(name).is_some() {
            typed.push(decode::TypedList::new(batch, name, loc)?);
        }
    }
    let kind = batch
        .column_by_name(schema::KIND)
        .map(|c| {
            c.as_primitive_opt::<Int8Type>()
                .ok_or_else(|| bad(schema::KIND))
        })
        .transpose()?;
    let status = batch
        .column_by_name(schema::STATUS_CODE)
        .map(|c| {
            c.as_primitive_opt::<Int8Type>()
                .ok_or_else(|| bad(schema::STATUS_CODE))
        })
        .transpose()?;
    let message = batch
        .column_by_name(schema::STATUS_MESSAGE)
        .map(|c| {
            c.as_string_opt::<i32>()
                .ok_or_else(|| bad(schema::STATUS_MESSAGE))
        })
        .transpose()?;
    for (key, value) in &q.attributes {
        let dedicated = match DEDICATED.iter().find(|(k, _, _)| k == key) {
            Some((_, col, ty)) => match batch.column_by_name(col) {
                Some(c) => {
                    let right = match ty {
                        Dedicated::Str => c.as_string_opt::<i32>().is_some(),
                        Dedicated::Int => c.as_primitive_opt::<Int64Type>().is_some(),
                    };
                    if !right {
                        return Err(bad(col));
                    }
                    Some(c)
                }
                None => None,
            },
            None => None,
        };
        let synthetic = SYNTHETIC.contains(&key.as_str());
        for (i, row_ok) in ok.iter_mut().enumerate() {
            if !*row_ok {
                continue;
            }
            let hit = dedicated.is_some_and(|c| {
                !c.is_null(i)
                    && (c
                        .as_string_opt::<i32>()
                        .is_some_and(|a| a.value(i) == value)
                        || c.as_primitive_opt::<Int64Type>()
                            .is_some_and(|a| a.value(i).to_string() == *value))
            }) || attrs.as_ref().is_some_and(|a| {
                a.range(i)
                    .any(|j| a.keys.value(j) == key && stored_value_is(a, j, value))
            }) || typed.iter().any(|t| t.has(i, key, value))
                || resources
                    .get(i)
                    .is_ok_and(|r| r.is_some_and(|r| in_attrs(&r.attributes, key, value)))
                || scopes
                    .get(i)
                    .is_ok_and(|s| s.is_some_and(|s| in_attrs(&s.attributes, key, value)))
                || (!events.is_null(i)
                    && events
                        .get::<Vec<Event>>(i)
                        .is_ok_and(|es| es.iter().any(|e| in_attrs(&e.attributes, key, value))))
                || (!links.is_null(i)
                    && links
                        .get::<Vec<Link>>(i)
                        .is_ok_and(|ls| ls.iter().any(|l| in_attrs(&l.attributes, key, value))))
                || (synthetic
                    && synthetic_value(key, i, kind, status, message, &scopes)
                        .is_some_and(|v| v == *value));
            *row_ok = hit;
        }
    }
    // A row that matches but holds a value that does not decode is never served.
    for (i, row_ok) in ok.iter_mut().enumerate() {
        if !*row_ok {
            continue;
        }
        let broken = attrs.as_ref().is_some_and(|a| {
            a.range(i).any(|j| {
                a.types.value(j) != value_type::STRING
                    && decode::decode_value(a.types.value(j), a.values.value(j)).is_err()
            })
        }) || resources.get(i).is_err()
            || scopes.get(i).is_err()
            || events.get::<Vec<Event>>(i).is_err()
            || links.get::<Vec<Link>>(i).is_err();
        if broken {
            undecodable.inc();
            *row_ok = false;
        }
    }
    Ok(ok)
}

/// The value of a synthetic tag of row `i`, as `spoor_storage::synthetic_tag` computes it on
/// the decoded span.
fn synthetic_value(
    key: &str,
    i: usize,
    kind: Option<&arrow_array::PrimitiveArray<Int8Type>>,
    status: Option<&arrow_array::PrimitiveArray<Int8Type>>,
    message: Option<&arrow_array::StringArray>,
    scopes: &decode::DecodedDict<InstrumentationScope>,
) -> Option<String> {
    use spoor_model::otlp_trace::status::StatusCode;
    let code = status.map_or(0, |a| i32::from(a.value(i)));
    let scope = || scopes.get(i).ok().flatten();
    match key {
        "error" if code == StatusCode::Error as i32 => Some("true".to_string()),
        "span.kind" => {
            let k = kind.map_or(0, |a| i32::from(a.value(i)));
            Some(spoor_model::span_kind_name(k).to_string()).filter(|s| !s.is_empty())
        }
        "otel.status_code" => match StatusCode::try_from(code) {
            Ok(StatusCode::Ok) => Some("OK".to_string()),
            Ok(StatusCode::Error) => Some("ERROR".to_string()),
            _ => None,
        },
        "otel.status_description" => message
            .filter(|m| !m.is_null(i))
            .map(|m| m.value(i).to_string())
            .filter(|m| !m.is_empty()),
        "otel.scope.name" => scope().map(|s| s.name.clone()).filter(|n| !n.is_empty()),
        "otel.scope.version" => scope().map(|s| s.version.clone()).filter(|v| !v.is_empty()),
        _ => None,
    }
}
