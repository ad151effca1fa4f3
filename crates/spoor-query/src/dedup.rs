//! Double exports: an app that exports through two exporters (say Jaeger and OTLP) has every span
//! stored twice. Copies with the same span id, start and end (the trace id is the trace's) are one
//! span: they are returned once, their attributes merged; when the copies' attributes differed,
//! the span carries a warning (the [`WARNINGS_ATTRIBUTE`] attribute, which the Jaeger model turns
//! into the span's `warnings`). Attributes that only restate the other copy's resource or
//! scope (the Jaeger exporters copy resource attributes into span tags and the scope into
//! `otel.library.name`) are not a difference and are not merged in.
//!
//! "Same start and end" is at the precision of the coarsest format: Jaeger and Zipkin carry
//! microseconds, and exporters round or truncate nanoseconds to them (and the duration
//! separately), so starts within [`START_TOLERANCE_NANOS`] and ends within
//! [`END_TOLERANCE_NANOS`] are the same; the copy with nanosecond precision gives the times.

use std::collections::{BTreeSet, HashMap, HashSet};

use spoor_model::otlp_common::{AnyValue, ArrayValue, KeyValue, any_value};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, Span};

/// The span attribute that carries query-time warnings (an array of strings). The Jaeger model
/// moves it from the tags into the span's `warnings`.
pub const WARNINGS_ATTRIBUTE: &str = "spoor.warnings";

/// Starts closer than this are the same start (one microsecond: rounding versus truncating).
pub const START_TOLERANCE_NANOS: u64 = 1_000;
/// Ends closer than this are the same end (the start's and the duration's rounding add up).
pub const END_TOLERANCE_NANOS: u64 = 2_000;

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

/// What a copy's translation put around it: its resource's attributes and its scope. An
/// exporter that folds these into span attributes (the Jaeger exporters copy resource attributes
/// into span tags, the scope into `otel.library.name`) makes no difference worth a warning.
struct Context {
    resource: Vec<KeyValue>,
    scope_name: String,
    scope_version: String,
}

impl Context {
    fn of(rs: &[ResourceSpans], (r, s, _): Pos) -> Context {
        let scope = rs[r].scope_spans[s].scope.as_ref();
        Context {
            resource: rs[r]
                .resource
                .as_ref()
                .map(|res| res.attributes.clone())
                .unwrap_or_default(),
            scope_name: scope.map(|sc| sc.name.clone()).unwrap_or_default(),
            scope_version: scope.map(|sc| sc.version.clone()).unwrap_or_default(),
        }
    }

    /// Whether `kv` only restates this context.
    fn restates(&self, kv: &KeyValue) -> bool {
        let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        };
        match kv.key.as_str() {
            "otel.library.name" | "otel.scope.name" => text == Some(self.scope_name.as_str()),
            "otel.library.version" | "otel.scope.version" => {
                text == Some(self.scope_version.as_str())
            }
            _ => self.resource.iter().any(|r| r == kv),
        }
    }
}

/// Times in whole microseconds: a copy from a microsecond format (Jaeger, Zipkin).
fn whole_micros(start: u64, end: u64) -> bool {
    start.is_multiple_of(1_000) && end.is_multiple_of(1_000)
}

/// Merges identical duplicate spans of one trace in place; returns how many copies were removed.
/// Of each group of copies the first with nanosecond times (an OTLP-native copy) is kept, else
/// the first.
pub fn merge_duplicate_spans(resource_spans: &mut Vec<ResourceSpans>) -> usize {
    // Groups of copies; by span id, the groups' (index, start, end) of its first member.
    let mut groups: Vec<Vec<Pos>> = Vec::new();
    let mut by_id: HashMap<&[u8], Vec<(usize, u64, u64)>> = HashMap::new();
    for (r, rs) in resource_spans.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
                let same = by_id.entry(span.span_id.as_slice()).or_default();
                match same.iter().find(|(_, s0, e0)| {
                    s0.abs_diff(start) < START_TOLERANCE_NANOS
                        && e0.abs_diff(end) < END_TOLERANCE_NANOS
                }) {
                    Some((g, _, _)) => groups[*g].push((r, s, i)),
                    None => {
                        same.push((groups.len(), start, end));
                        groups.push(vec![(r, s, i)]);
                    }
                }
            }
        }
    }
    groups.retain(|g| g.len() > 1);
    if groups.is_empty() {
        return 0;
    }
    let mut removed: HashSet<Pos> = HashSet::new();
    for group in groups {
        let keeper = group
            .iter()
            .copied()
            .find(|p| {
                let span = span_at(resource_spans, *p);
                !whole_micros(span.start_time_unix_nano, span.end_time_unix_nano)
            })
            .unwrap_or(group[0]);
        let keeper_context = Context::of(resource_spans, keeper);
        let mut merge = Merge::default();
        for dup in group.into_iter().filter(|p| *p != keeper) {
            let copy = span_at(resource_spans, dup).clone();
            let copy_context = Context::of(resource_spans, dup);
            merge.copies += 1;
            merge_into(
                span_at_mut(resource_spans, keeper),
                copy,
                &mut merge,
                (&keeper_context, &copy_context),
            );
            removed.insert(dup);
        }
        if !merge.only_in_some.is_empty() || !merge.differing.is_empty() {
            add_warning(span_at_mut(resource_spans, keeper), warning_text(&merge));
        }
    }
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
/// have a key), events, links, status and kind when the kept copy lacks them, and nanosecond
/// times when the kept copy has whole microseconds only.
fn merge_into(kept: &mut Span, copy: Span, merge: &mut Merge, contexts: (&Context, &Context)) {
    let (kept_context, copy_context) = contexts;
    let (copy_start, copy_end) = (copy.start_time_unix_nano, copy.end_time_unix_nano);
    let copy_keys: HashSet<&str> = copy.attributes.iter().map(|kv| kv.key.as_str()).collect();
    for kv in &kept.attributes {
        if !copy_keys.contains(kv.key.as_str()) && !copy_context.restates(kv) {
            merge.only_in_some.insert(kv.key.clone());
        }
    }
    for kv in copy.attributes {
        match kept.attributes.iter().find(|k| k.key == kv.key) {
            Some(existing) if existing.value != kv.value => {
                merge.differing.insert(kv.key);
            }
            Some(_) => {}
            None if kept_context.restates(&kv) => {}
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
    if whole_micros(kept.start_time_unix_nano, kept.end_time_unix_nano)
        && !whole_micros(copy_start, copy_end)
    {
        kept.start_time_unix_nano = copy_start;
        kept.end_time_unix_nano = copy_end;
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
        "this span was received {} times (same trace id, span id, start and end, as from two exporters) with different attributes; the copies were merged",
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
