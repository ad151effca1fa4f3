//! Bounds on attribute values, applied once at ingest so that no stored value nests deeper or
//! holds more values than every reader can handle.
//!
//! OTLP lets an attribute value be an `ArrayValue` or `KvlistValue` of further values, without
//! limit. Spoor keeps an attribute only if its value nests at most [`MAX_ATTRIBUTE_DEPTH`] levels
//! (a scalar is one level, an array of scalars two) and if the values counted so far for the same
//! span (its attributes, its events' and its links' attributes; each resource and each scope
//! counts on its own) stay within [`MAX_ATTRIBUTE_VALUES`].
//! An attribute over either bound is dropped whole and counted in the owner's
//! `dropped_attributes_count`, as an OpenTelemetry SDK does for its attribute limits; the span
//! itself is kept.

use crate::otlp_common::{AnyValue, KeyValue, any_value::Value};
use crate::otlp_trace::ResourceSpans;

/// Deepest accepted nesting of an attribute value; a scalar is depth 1.
pub const MAX_ATTRIBUTE_DEPTH: usize = 16;

/// Most attribute values (nested ones included) kept per span, per resource and per scope.
pub const MAX_ATTRIBUTE_VALUES: usize = 10_000;

/// Why an attribute was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeLimit {
    /// Nested deeper than [`MAX_ATTRIBUTE_DEPTH`].
    TooDeep,
    /// Past [`MAX_ATTRIBUTE_VALUES`] for its span, resource or scope.
    TooManyValues,
}

impl AttributeLimit {
    /// Short label for metrics (`reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeLimit::TooDeep => "too_deep",
            AttributeLimit::TooManyValues => "too_many_values",
        }
    }
}

/// Attributes [`limit_attributes`] dropped, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DroppedAttributes {
    pub too_deep: u64,
    pub too_many_values: u64,
}

impl DroppedAttributes {
    pub fn total(&self) -> u64 {
        self.too_deep + self.too_many_values
    }

    fn count(&mut self, reason: AttributeLimit) {
        match reason {
            AttributeLimit::TooDeep => self.too_deep += 1,
            AttributeLimit::TooManyValues => self.too_many_values += 1,
        }
    }
}

/// Drops every attribute in `batch` that exceeds the bounds (see the module docs) and adds the
/// number dropped to the owner's `dropped_attributes_count`.
pub fn limit_attributes(batch: &mut [ResourceSpans]) -> DroppedAttributes {
    let mut dropped = DroppedAttributes::default();
    for rs in batch.iter_mut() {
        if let Some(resource) = rs.resource.as_mut() {
            let mut budget = MAX_ATTRIBUTE_VALUES;
            let n = limit_list(&mut resource.attributes, &mut budget, &mut dropped);
            resource.dropped_attributes_count = resource.dropped_attributes_count.saturating_add(n);
        }
        for ss in rs.scope_spans.iter_mut() {
            if let Some(scope) = ss.scope.as_mut() {
                let mut budget = MAX_ATTRIBUTE_VALUES;
                let n = limit_list(&mut scope.attributes, &mut budget, &mut dropped);
                scope.dropped_attributes_count = scope.dropped_attributes_count.saturating_add(n);
            }
            for span in ss.spans.iter_mut() {
                let mut budget = MAX_ATTRIBUTE_VALUES;
                let n = limit_list(&mut span.attributes, &mut budget, &mut dropped);
                span.dropped_attributes_count = span.dropped_attributes_count.saturating_add(n);
                for event in span.events.iter_mut() {
                    let n = limit_list(&mut event.attributes, &mut budget, &mut dropped);
                    event.dropped_attributes_count =
                        event.dropped_attributes_count.saturating_add(n);
                }
                for link in span.links.iter_mut() {
                    let n = limit_list(&mut link.attributes, &mut budget, &mut dropped);
                    link.dropped_attributes_count = link.dropped_attributes_count.saturating_add(n);
                }
            }
        }
    }
    dropped
}

/// Keeps the attributes that fit in `budget` (which they use up); returns how many were dropped.
fn limit_list(
    attrs: &mut Vec<KeyValue>,
    budget: &mut usize,
    dropped: &mut DroppedAttributes,
) -> u32 {
    let before = attrs.len();
    attrs.retain(|kv| {
        let verdict = match &kv.value {
            Some(value) => measure(value, 1, *budget),
            None if *budget > 0 => Ok(1),
            None => Err(AttributeLimit::TooManyValues),
        };
        match verdict {
            Ok(used) => {
                *budget -= used;
                true
            }
            Err(reason) => {
                dropped.count(reason);
                false
            }
        }
    });
    u32::try_from(before - attrs.len()).unwrap_or(u32::MAX)
}

/// The number of values in `value` (itself included), or why it does not fit. Recursion stops
/// at [`MAX_ATTRIBUTE_DEPTH`] + 1, whatever the input.
fn measure(value: &AnyValue, depth: usize, budget: usize) -> Result<usize, AttributeLimit> {
    if depth > MAX_ATTRIBUTE_DEPTH {
        return Err(AttributeLimit::TooDeep);
    }
    if budget == 0 {
        return Err(AttributeLimit::TooManyValues);
    }
    let mut used = 1;
    match &value.value {
        Some(Value::ArrayValue(array)) => {
            for v in &array.values {
                used += measure(v, depth + 1, budget - used)?;
            }
        }
        Some(Value::KvlistValue(list)) => {
            for kv in &list.values {
                match &kv.value {
                    Some(v) => used += measure(v, depth + 1, budget - used)?,
                    None if used < budget => used += 1,
                    None => return Err(AttributeLimit::TooManyValues),
                }
            }
        }
        _ => {}
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr;
    use crate::otlp_common::{ArrayValue, KeyValueList};
    use crate::otlp_resource::Resource;
    use crate::otlp_trace::{ScopeSpans, Span, span::Event};

    /// A value nested `depth` levels: arrays around one scalar.
    fn nested(depth: usize) -> AnyValue {
        let mut v = AnyValue {
            value: Some(Value::IntValue(1)),
        };
        for _ in 1..depth {
            v = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        v
    }

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
            ..Default::default()
        }
    }

    fn batch(span: Span, resource_attrs: Vec<KeyValue>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attrs,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn drops_values_nested_too_deep_and_keeps_the_rest() {
        let span = Span {
            attributes: vec![
                attr::string("ok", "v"),
                kv("at-limit", nested(MAX_ATTRIBUTE_DEPTH)),
                kv("too-deep", nested(MAX_ATTRIBUTE_DEPTH + 1)),
                kv("very-deep", nested(90)),
            ],
            events: vec![Event {
                attributes: vec![kv("deep-event", nested(40))],
                ..Default::default()
            }],
            dropped_attributes_count: 2,
            ..Default::default()
        };
        let mut b = batch(
            span,
            vec![
                kv("deep-resource", nested(47)),
                attr::string("service.name", "s"),
            ],
        );
        let dropped = limit_attributes(&mut b);
        assert_eq!(
            dropped,
            DroppedAttributes {
                too_deep: 4,
                too_many_values: 0
            }
        );
        let resource = b[0].resource.as_ref().expect("resource");
        assert_eq!(resource.attributes.len(), 1);
        assert_eq!(resource.dropped_attributes_count, 1);
        let span = &b[0].scope_spans[0].spans[0];
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["ok", "at-limit"]);
        assert_eq!(span.dropped_attributes_count, 4);
        assert!(span.events[0].attributes.is_empty());
        assert_eq!(span.events[0].dropped_attributes_count, 1);
    }

    #[test]
    fn caps_the_values_per_span_across_attributes_and_events() {
        let wide = |n: usize| {
            kv(
                "wide",
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: (0..n).map(|i| attr::int(&i.to_string(), 1)).collect(),
                    })),
                },
            )
        };
        let span = Span {
            attributes: vec![wide(MAX_ATTRIBUTE_VALUES - 2), attr::int("fits", 1)],
            events: vec![Event {
                attributes: vec![attr::int("one-too-many", 1), wide(5)],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut b = batch(span, vec![]);
        let dropped = limit_attributes(&mut b);
        assert_eq!(
            dropped,
            DroppedAttributes {
                too_deep: 0,
                too_many_values: 2
            }
        );
        let span = &b[0].scope_spans[0].spans[0];
        assert_eq!(span.attributes.len(), 2);
        assert_eq!(span.events[0].dropped_attributes_count, 2);
    }
}
