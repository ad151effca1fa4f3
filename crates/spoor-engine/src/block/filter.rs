//! Search predicates evaluated column by column on Arrow arrays, without decoding spans.
//!
//! [`cheap_filter`] checks service, span name, start and duration; [`predicate_filter`] checks
//! the request's [`SpanPredicate`]s on the few columns they can read. Together they give
//! exactly the answer of [`ScanRequest::matches_parts`] on the decoded span (the engine's tests
//! compare them on random data), including "a row with a value that does not decode never
//! matches".

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int64Type};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::ArrowError;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_storage::{AttrScope, ScanRequest, SpanPredicate, StorageError, ValueMatch};
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

/// Columns [`start_filter`] reads.
pub(crate) const START_COLUMNS: [&str; 3] =
    [schema::START, schema::TRACE_START, schema::START_OFFSET];

/// Rows starting at or after `from`: a narrowed search's first test, so that the other
/// columns are decoded only for the pages of the rows it keeps.
pub(crate) fn start_filter(batch: &RecordBatch, from: u64) -> Result<BooleanArray, ArrowError> {
    let start = decode::Starts::new(batch, "search").map_err(arrow_err)?;
    Ok((0..batch.num_rows())
        .map(|i| Some(start.value(i) >= from))
        .collect())
}

/// Service, span name, start and duration, evaluated column-wise.
pub(crate) fn cheap_filter(
    batch: &RecordBatch,
    q: &ScanRequest,
) -> Result<BooleanArray, ArrowError> {
    let loc = "search";
    let n = batch.num_rows();
    let mut keep = vec![true; n];
    for (col, want) in [
        (schema::SERVICE, q.service()),
        (schema::NAME, q.span_name()),
    ] {
        let Some(want) = want else {
            continue;
        };
        let (keys, values) = decode::dict(batch, col, loc).map_err(arrow_err)?;
        // Indexed by dictionary key (a hash set lookup per row was 11 % of a service search).
        let ok: Vec<bool> = (0..values.len())
            .map(|i| !values.is_null(i) && values.value(i) == want)
            .collect();
        for (i, k) in keep.iter_mut().enumerate() {
            *k = *k
                && !keys.is_null(i)
                && usize::try_from(keys.keys().value(i))
                    .ok()
                    .and_then(|key| ok.get(key))
                    .is_some_and(|m| *m);
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
        *k = q.in_bounds(s, d);
    }
    Ok(keep.into_iter().map(Some).collect())
}

/// Which typed attribute lists (int, double, bool) can hold a value satisfying `m`: a value's
/// text is `i64`'s, `format_double`'s or `bool`'s, so a text that none of them parses cannot
/// match there (`"t003"` reads none of the three); a range matches numbers only.
pub(crate) fn typed_lists_for(m: &ValueMatch) -> [bool; 3] {
    match m {
        ValueMatch::Text(t) => [
            t.parse::<i64>().is_ok(),
            t.parse::<f64>().is_ok(),
            t == "true" || t == "false",
        ],
        ValueMatch::Regex(_) => [true; 3],
        ValueMatch::Range { .. } => [true, true, false],
    }
}

/// The columns [`predicate_filter`] reads for `q`: every place an attribute can be stored, the
/// dedicated columns of the request's span attribute keys only, the typed attribute lists only
/// when a span attribute's value could be of their type ([`typed_lists_for`]), and the span
/// fields the predicates read. Wide columns that cannot hold the keys (statements, URLs, ids)
/// are not read.
pub(crate) fn predicate_columns(q: &ScanRequest) -> Vec<&'static str> {
    let mut cols = vec![
        schema::ATTRIBUTES,
        schema::RESOURCE,
        schema::SCOPE,
        schema::EVENTS,
        schema::LINKS,
    ];
    let typed = [
        schema::ATTRIBUTES_INT,
        schema::ATTRIBUTES_DOUBLE,
        schema::ATTRIBUTES_BOOL,
    ];
    for p in &q.predicates {
        p.for_each_attribute(&mut |scopes, key, m| {
            if !scopes.contains(&AttrScope::Span) {
                return;
            }
            if let Some((_, col, _)) = DEDICATED.iter().find(|(k, _, _)| *k == key) {
                cols.push(col);
            }
            for (col, could) in typed.iter().zip(typed_lists_for(m)) {
                if could {
                    cols.push(col);
                }
            }
        });
        if p.reads_span_fields() {
            cols.extend([schema::KIND, schema::STATUS_CODE, schema::STATUS_MESSAGE]);
        }
    }
    cols.sort_unstable();
    cols.dedup();
    cols
}

fn in_attrs(kvs: &[KeyValue], key: &str, m: &ValueMatch) -> bool {
    kvs.iter()
        .any(|kv| kv.key == key && m.matches(kv.value.as_ref()))
}

/// The stored generic attribute `j` satisfies `m` (as the decoded span would).
fn stored_value_matches(a: &decode::AttributeColumns<'_>, j: usize, m: &ValueMatch) -> bool {
    let (t, s) = (a.types.value(j), a.values.value(j));
    if t == value_type::STRING {
        return m.matches_str(s);
    }
    decode::decode_value(t, s).is_ok_and(|v| m.matches(Some(&AnyValue { value: v })))
}

/// The columns of one batch a predicate reads.
struct Row<'a> {
    batch: &'a RecordBatch,
    resources: decode::DecodedDict<Resource>,
    scopes: decode::DecodedDict<InstrumentationScope>,
    events: decode::ListColumn<'a>,
    links: decode::ListColumn<'a>,
    attrs: Option<decode::AttributeColumns<'a>>,
    typed: Vec<decode::TypedList<'a>>,
    kind: Option<&'a arrow_array::PrimitiveArray<Int8Type>>,
    status: Option<&'a arrow_array::PrimitiveArray<Int8Type>>,
    message: Option<&'a arrow_array::StringArray>,
}

impl Row<'_> {
    /// True when row `i` satisfies `p`, as [`SpanPredicate::matches_parts`] on the span.
    fn matches(&self, p: &SpanPredicate, i: usize) -> Result<bool, StorageError> {
        Ok(match p {
            SpanPredicate::Attribute { scopes, key, value } => {
                for scope in scopes {
                    if self.attribute(*scope, key, value, i)? {
                        return Ok(true);
                    }
                }
                false
            }
            SpanPredicate::Status(code) => {
                self.status.map_or(0, |a| i32::from(a.value(i))) == *code
            }
            SpanPredicate::Kind(kind) => self.kind.map_or(0, |a| i32::from(a.value(i))) == *kind,
            SpanPredicate::StatusMessage(m) => {
                self.message
                    .filter(|a| !a.is_null(i))
                    .map_or("", |a| a.value(i))
                    == m
            }
            SpanPredicate::ScopeName(n) => {
                self.scopes
                    .get(i)
                    .ok()
                    .flatten()
                    .map_or("", |s| s.name.as_str())
                    == n
            }
            SpanPredicate::ScopeVersion(v) => {
                self.scopes
                    .get(i)
                    .ok()
                    .flatten()
                    .map_or("", |s| s.version.as_str())
                    == v
            }
            SpanPredicate::AnyOf(any) => {
                for p in any {
                    if self.matches(p, i)? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }

    fn attribute(
        &self,
        scope: AttrScope,
        key: &str,
        m: &ValueMatch,
        i: usize,
    ) -> Result<bool, StorageError> {
        Ok(match scope {
            AttrScope::Span => {
                self.dedicated(key, m, i)?
                    || self.attrs.as_ref().is_some_and(|a| {
                        a.range(i)
                            .any(|j| a.keys.value(j) == key && stored_value_matches(a, j, m))
                    })
                    || self.typed.iter().any(|t| t.matches(i, key, m))
            }
            AttrScope::Resource => self
                .resources
                .get(i)
                .is_ok_and(|r| r.is_some_and(|r| in_attrs(&r.attributes, key, m))),
            AttrScope::Scope => self
                .scopes
                .get(i)
                .is_ok_and(|s| s.is_some_and(|s| in_attrs(&s.attributes, key, m))),
            AttrScope::Event => {
                !self.events.is_null(i)
                    && self
                        .events
                        .get::<Vec<Event>>(i)
                        .is_ok_and(|es| es.iter().any(|e| in_attrs(&e.attributes, key, m)))
            }
            AttrScope::Link => {
                !self.links.is_null(i)
                    && self
                        .links
                        .get::<Vec<Link>>(i)
                        .is_ok_and(|ls| ls.iter().any(|l| in_attrs(&l.attributes, key, m)))
            }
        })
    }

    /// The span attribute `key` kept in its dedicated column satisfies `m`.
    fn dedicated(&self, key: &str, m: &ValueMatch, i: usize) -> Result<bool, StorageError> {
        let Some((_, col, ty)) = DEDICATED.iter().find(|(k, _, _)| *k == key) else {
            return Ok(false);
        };
        let Some(c) = self.batch.column_by_name(col) else {
            return Ok(false);
        };
        let bad = || corrupt("search", format!("column {col} has the wrong type"));
        if c.is_null(i) {
            return Ok(false);
        }
        Ok(match ty {
            Dedicated::Str => m.matches_str(c.as_string_opt::<i32>().ok_or_else(bad)?.value(i)),
            Dedicated::Int => {
                m.matches_int(c.as_primitive_opt::<Int64Type>().ok_or_else(bad)?.value(i))
            }
        })
    }
}

/// Exactly [`ScanRequest::matches_parts`]'s predicates of `q`, on the columns named by
/// [`predicate_columns`]. A row with a value that does not decode is never a match (it is
/// never served) and is counted in `undecodable`.
pub(crate) fn predicate_filter(
    batch: &RecordBatch,
    q: &ScanRequest,
    loc: &str,
    format: u32,
    undecodable: &Counter,
) -> Result<BooleanArray, ArrowError> {
    predicate_matches(batch, q, loc, format, undecodable)
        .map(|keep| keep.into_iter().map(Some).collect())
        .map_err(arrow_err)
}

fn predicate_matches(
    batch: &RecordBatch,
    q: &ScanRequest,
    loc: &str,
    format: u32,
    undecodable: &Counter,
) -> Result<Vec<bool>, StorageError> {
    let n = batch.num_rows();
    let mut ok = vec![true; n];
    let bad = |name: &str| corrupt(loc, format!("column {name} has the wrong type"));
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
    let row = Row {
        batch,
        resources: decode::decode_dict::<Resource>(batch, schema::RESOURCE, loc, format)?,
        scopes: decode::decode_dict::<InstrumentationScope>(batch, schema::SCOPE, loc, format)?,
        events: decode::ListColumn::new(batch, schema::EVENTS, loc, format)?,
        links: decode::ListColumn::new(batch, schema::LINKS, loc, format)?,
        attrs: decode::attribute_columns(batch, loc)?,
        typed,
        kind: batch
            .column_by_name(schema::KIND)
            .map(|c| {
                c.as_primitive_opt::<Int8Type>()
                    .ok_or_else(|| bad(schema::KIND))
            })
            .transpose()?,
        status: batch
            .column_by_name(schema::STATUS_CODE)
            .map(|c| {
                c.as_primitive_opt::<Int8Type>()
                    .ok_or_else(|| bad(schema::STATUS_CODE))
            })
            .transpose()?,
        message: batch
            .column_by_name(schema::STATUS_MESSAGE)
            .map(|c| {
                c.as_string_opt::<i32>()
                    .ok_or_else(|| bad(schema::STATUS_MESSAGE))
            })
            .transpose()?,
    };
    for p in &q.predicates {
        for (i, row_ok) in ok.iter_mut().enumerate() {
            if *row_ok {
                *row_ok = row.matches(p, i)?;
            }
        }
    }
    // A row that matches but holds a value that does not decode is never served.
    for (i, row_ok) in ok.iter_mut().enumerate() {
        if !*row_ok {
            continue;
        }
        let broken = row.attrs.as_ref().is_some_and(|a| {
            a.range(i).any(|j| {
                a.types.value(j) != value_type::STRING
                    && decode::decode_value(a.types.value(j), a.values.value(j)).is_err()
            })
        }) || row.resources.get(i).is_err()
            || row.scopes.get(i).is_err()
            || row.events.get::<Vec<Event>>(i).is_err()
            || row.links.get::<Vec<Link>>(i).is_err();
        if broken {
            undecodable.inc();
            *row_ok = false;
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::attr;
    use spoor_model::otlp_common::any_value::Value;

    fn tag(value: &str) -> ScanRequest {
        ScanRequest {
            predicates: vec![SpanPredicate::text_anywhere("tenant.id", value)],
            ..Default::default()
        }
    }

    /// Every typed value whose text is `text` is in a list [`typed_lists_for`] keeps.
    #[test]
    fn typed_lists_kept_are_those_whose_values_can_have_the_text() {
        let values = [
            Value::IntValue(200),
            Value::IntValue(-3),
            Value::DoubleValue(1.5),
            Value::DoubleValue(2.0),
            Value::DoubleValue(f64::NAN),
            Value::DoubleValue(f64::INFINITY),
            Value::DoubleValue(1e300),
            Value::BoolValue(true),
            Value::BoolValue(false),
        ];
        for v in values {
            let text = attr::value_to_string(Some(&AnyValue {
                value: Some(v.clone()),
            }));
            let kept = typed_lists_for(&ValueMatch::Text(text.clone()));
            let list = match v {
                Value::IntValue(_) => 0,
                Value::DoubleValue(_) => 1,
                _ => 2,
            };
            assert!(kept[list], "{v:?} as {text:?} is in a list not read");
        }
        assert_eq!(
            typed_lists_for(&ValueMatch::Text("t003".into())),
            [false; 3]
        );
    }

    #[test]
    fn a_text_tag_reads_no_typed_list_a_numeric_one_does() {
        let cols = predicate_columns(&tag("t003"));
        assert!(cols.contains(&schema::ATTRIBUTES));
        assert!(!cols.contains(&schema::ATTRIBUTES_INT));
        assert!(!cols.contains(&schema::ATTRIBUTES_DOUBLE));
        assert!(!cols.contains(&schema::ATTRIBUTES_BOOL));
        let cols = predicate_columns(&tag("200"));
        assert!(cols.contains(&schema::ATTRIBUTES_INT));
        assert!(cols.contains(&schema::ATTRIBUTES_DOUBLE));
        assert!(!cols.contains(&schema::ATTRIBUTES_BOOL));
        assert!(predicate_columns(&tag("true")).contains(&schema::ATTRIBUTES_BOOL));
    }
}
