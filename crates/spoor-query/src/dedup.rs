//! Double exports: an app that exports through two exporters (say Jaeger and OTLP) has every span
//! stored twice. Copies with the same span id, start and end (the trace id is the trace's) are one
//! span: they are returned once, their attributes merged; when the copies' attributes differed,
//! the span carries a warning (the [`WARNINGS_ATTRIBUTE`] attribute, which the Jaeger model turns
//! into the span's `warnings`).

use std::collections::{BTreeSet, HashMap, HashSet};

use spoor_model::otlp_common::{AnyValue, ArrayValue, KeyValue, any_value};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, Span};

/// The span attribute that carries query-time warnings (an array of strings). The Jaeger model
/// moves it from the tags into the span's `warnings`.
pub const WARNINGS_ATTRIBUTE: &str = "spoor.warnings";

/// At most this many attribute keys are named in one warning.
const MAX_KEYS_NAMED: usize = 10;

/// Where a span sits: resource, scope and span index.
type Pos = (usize, usize, usize);

#[derive(Default)]
struct Merge {
    copies: usize,
    only_in_some: BTreeSet<String>,
    differing: BTreeSet<String>,
}

/// Merges identical duplicate spans of one trace in place; returns how many copies were removed.
pub fn merge_duplicate_spans(resource_spans: &mut Vec<ResourceSpans>) -> usize {
    let mut first: HashMap<(&[u8], u64, u64), Pos> = HashMap::new();
    let mut duplicates: Vec<(Pos, Pos)> = Vec::new();
    for (r, rs) in resource_spans.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                let key = (
                    span.span_id.as_slice(),
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                );
                match first.get(&key) {
                    Some(kept) => duplicates.push((*kept, (r, s, i))),
                    None => {
                        first.insert(key, (r, s, i));
                    }
                }
            }
        }
    }
    if duplicates.is_empty() {
        return 0;
    }
    let mut merges: HashMap<Pos, Merge> = HashMap::new();
    for (kept, dup) in &duplicates {
        let copy = span_at(resource_spans, *dup).clone();
        let merge = merges.entry(*kept).or_default();
        merge.copies += 1;
        merge_into(span_at_mut(resource_spans, *kept), copy, merge);
    }
    for (pos, merge) in merges {
        if merge.only_in_some.is_empty() && merge.differing.is_empty() {
            continue;
        }
        add_warning(span_at_mut(resource_spans, pos), warning_text(&merge));
    }
    let removed: HashSet<Pos> = duplicates.iter().map(|(_, dup)| *dup).collect();
    for (r, rs) in resource_spans.iter_mut().enumerate() {
        for (s, ss) in rs.scope_spans.iter_mut().enumerate() {
            let mut i = 0;
            ss.spans.retain(|_| {
                let keep = !removed.contains(&(r, s, i));
                i += 1;
                keep
            });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    removed.len()
}

fn span_at(rs: &[ResourceSpans], (r, s, i): Pos) -> &Span {
    &rs[r].scope_spans[s].spans[i]
}

fn span_at_mut(rs: &mut [ResourceSpans], (r, s, i): Pos) -> &mut Span {
    &mut rs[r].scope_spans[s].spans[i]
}

/// Adds what `copy` knows and `kept` does not: attributes (the kept copy's value wins when both
/// have a key), events, links, status and kind when the kept copy lacks them.
fn merge_into(kept: &mut Span, copy: Span, merge: &mut Merge) {
    let copy_keys: HashSet<&str> = copy.attributes.iter().map(|kv| kv.key.as_str()).collect();
    for kv in &kept.attributes {
        if !copy_keys.contains(kv.key.as_str()) {
            merge.only_in_some.insert(kv.key.clone());
        }
    }
    for kv in copy.attributes {
        match kept.attributes.iter().find(|k| k.key == kv.key) {
            Some(existing) if existing.value != kv.value => {
                merge.differing.insert(kv.key);
            }
            Some(_) => {}
            None => {
                merge.only_in_some.insert(kv.key.clone());
                kept.attributes.push(kv);
            }
        }
    }
    if kept.events.is_empty() {
        kept.events = copy.events;
    }
    if kept.links.is_empty() {
        kept.links = copy.links;
    }
    let unset = |s: &Option<spoor_model::Status>| {
        s.as_ref()
            .is_none_or(|s| s.code == StatusCode::Unset as i32 && s.message.is_empty())
    };
    if unset(&kept.status) && !unset(&copy.status) {
        kept.status = copy.status;
    }
    if kept.kind == 0 {
        kept.kind = copy.kind;
    }
    if kept.parent_span_id.iter().all(|b| *b == 0) {
        kept.parent_span_id = copy.parent_span_id;
    }
}

fn named(keys: &BTreeSet<String>) -> String {
    let mut out: Vec<&str> = keys
        .iter()
        .take(MAX_KEYS_NAMED)
        .map(String::as_str)
        .collect();
    if keys.len() > MAX_KEYS_NAMED {
        out.push("…");
    }
    out.join(", ")
}

fn warning_text(merge: &Merge) -> String {
    let mut text = format!(
        "this span was received {} times (same trace id, span id, start and end) with different attributes; the copies were merged",
        merge.copies + 1
    );
    if !merge.only_in_some.is_empty() {
        text.push_str(&format!(
            "; attributes not in every copy: {}",
            named(&merge.only_in_some)
        ));
    }
    if !merge.differing.is_empty() {
        text.push_str(&format!(
            "; attributes whose values differ (the first copy's value is shown): {}",
            named(&merge.differing)
        ));
    }
    text
}

/// Appends `text` to the span's [`WARNINGS_ATTRIBUTE`].
pub(crate) fn add_warning(span: &mut Span, text: String) {
    let value = AnyValue {
        value: Some(any_value::Value::StringValue(text)),
    };
    if let Some(kv) = span
        .attributes
        .iter_mut()
        .find(|kv| kv.key == WARNINGS_ATTRIBUTE)
        && let Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(array)),
        }) = kv.value.as_mut()
    {
        array.values.push(value);
        return;
    }
    span.attributes.push(KeyValue {
        key: WARNINGS_ATTRIBUTE.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        }),
        ..Default::default()
    });
}
