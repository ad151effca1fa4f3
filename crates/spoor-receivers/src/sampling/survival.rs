//! The probability each stored span survived sampling, kept as the span attribute
//! `sampling.probability` (a double): the head probability (from the span's `tracestate`
//! `ot=th:` threshold or Jaeger's `sampler.type`/`sampler.param` tags, or those of another span of
//! its trace in the same batch) times the tail sampler's (the `tail_sampling` processor's
//! probabilistic policies multiply theirs in). A span without the attribute was not sampled by
//! anything Spoor can see (p = 1). Span-derived counts weigh a span by `1 / p`.

use std::collections::HashMap;

use spoor_model::ResourceSpans;
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};

use super::adaptive::span_probability;

/// The attribute holding a stored span's survival probability.
pub const SURVIVAL_ATTRIBUTE: &str = "sampling.probability";

/// A span's recorded survival probability, if any.
pub fn recorded(span: &spoor_model::Span) -> Option<f64> {
    match spoor_model::attr::find(&span.attributes, SURVIVAL_ATTRIBUTE)?
        .value
        .as_ref()?
    {
        Value::DoubleValue(d) => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        _ => None,
    }
}

fn set(span: &mut spoor_model::Span, p: f64) {
    let value = Some(AnyValue {
        value: Some(Value::DoubleValue(p)),
    });
    match span
        .attributes
        .iter_mut()
        .find(|kv| kv.key == SURVIVAL_ATTRIBUTE)
    {
        Some(kv) => kv.value = value,
        None => span.attributes.push(KeyValue {
            key: SURVIVAL_ATTRIBUTE.to_string(),
            value,
            ..KeyValue::default()
        }),
    }
}

/// The head probability of each trace in the batch that states one (the first span saying so).
fn head_by_trace(batch: &[ResourceSpans]) -> HashMap<Vec<u8>, f64> {
    let mut heads = HashMap::new();
    for span in batch
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
    {
        if let Some((p, _)) = span_probability(span) {
            heads.entry(span.trace_id.clone()).or_insert(p);
        }
    }
    heads
}

/// Records the head probability on every span of the batch that has none recorded yet and
/// whose trace states one; returns how many spans got it.
pub fn record_head(batch: &mut [ResourceSpans]) -> usize {
    let heads = head_by_trace(batch);
    if heads.is_empty() {
        return 0;
    }
    let mut n = 0;
    for span in batch
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        if recorded(span).is_some() {
            continue;
        }
        let own = span_probability(span).map(|(p, _)| p);
        if let Some(p) = own.or_else(|| heads.get(&span.trace_id).copied()) {
            set(span, p);
            n += 1;
        }
    }
    n
}

/// Multiplies a sampling stage's probability into every span of a (one-trace) batch: each span
/// gets `recorded or head × factor`.
pub fn multiply(batch: &mut [ResourceSpans], factor: f64) {
    if factor >= 1.0 {
        record_head(batch);
        return;
    }
    let heads = head_by_trace(batch);
    for span in batch
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        let before = recorded(span)
            .or_else(|| span_probability(span).map(|(p, _)| p))
            .or_else(|| heads.get(&span.trace_id).copied())
            .unwrap_or(1.0);
        set(span, before * factor);
    }
}
