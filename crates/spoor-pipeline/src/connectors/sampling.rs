//! How many spans one recorded span stands for: 1/sampling probability.

use spoor_model::Span;
use spoor_model::attr::find;
use spoor_model::otlp_common::KeyValue;
use spoor_model::otlp_common::any_value::Value;

/// The adjusted count of a span, from the first of: the OpenTelemetry `ot=th:` threshold in its
/// tracestate, a `sampling.probability` attribute (span, then resource), Jaeger's
/// `sampler.type=probabilistic` with `sampler.param` (span, then resource). 1 when none is
/// recorded or the probability is not in (0, 1].
pub fn sampling_weight(span: &Span, resource: &[KeyValue]) -> Option<f64> {
    let p = threshold_probability(&span.trace_state)
        .or_else(|| number(&span.attributes, "sampling.probability"))
        .or_else(|| number(resource, "sampling.probability"))
        .or_else(|| jaeger_probability(&span.attributes))
        .or_else(|| jaeger_probability(resource))?;
    (p > 0.0 && p <= 1.0).then(|| 1.0 / p)
}

fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find(attrs, key)?.value.as_ref()? {
        Value::DoubleValue(d) => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn jaeger_probability(attrs: &[KeyValue]) -> Option<f64> {
    match find(attrs, "sampler.type")?.value.as_ref()? {
        Value::StringValue(s) if s == "probabilistic" => number(attrs, "sampler.param"),
        _ => None,
    }
}

/// The probability the W3C/OTel threshold `th` encodes: `th` is up to 14 hex digits, padded
/// on the right with zeros; spans are kept when their randomness ≥ T, so p = 1 − T/2^56.
fn threshold_probability(trace_state: &str) -> Option<f64> {
    let ot = trace_state
        .split(',')
        .find_map(|member| member.trim().strip_prefix("ot="))?;
    let th = ot.split(';').find_map(|f| f.strip_prefix("th:"))?;
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let t = u64::from_str_radix(th, 16).ok()? << (4 * (14 - th.len()));
    Some(1.0 - t as f64 / (1u64 << 56) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::attr;

    #[test]
    fn weight_from_each_source() {
        let mut span = Span {
            trace_state: "ot=th:e666666666666".into(),
            ..Default::default()
        };
        let w = sampling_weight(&span, &[]).expect("threshold");
        assert!((w - 10.0).abs() < 1e-6, "{w}");
        span.trace_state = "ot=th:8".into();
        assert_eq!(sampling_weight(&span, &[]), Some(2.0));
        span.trace_state = "ot=th:0".into();
        assert_eq!(sampling_weight(&span, &[]), Some(1.0));
        span.trace_state = "vendor=x".into();
        assert_eq!(sampling_weight(&span, &[]), None);
        span.attributes = vec![attr::double("sampling.probability", 0.25)];
        assert_eq!(sampling_weight(&span, &[]), Some(4.0));
        span.attributes = vec![
            attr::string("sampler.type", "probabilistic"),
            attr::double("sampler.param", 0.1),
        ];
        let w = sampling_weight(&span, &[]).expect("jaeger tags");
        assert!((w - 10.0).abs() < 1e-9);
        span.attributes = vec![
            attr::string("sampler.type", "const"),
            attr::int("sampler.param", 1),
        ];
        assert_eq!(sampling_weight(&span, &[]), None);
        span.attributes = vec![attr::double("sampling.probability", 0.0)];
        assert_eq!(sampling_weight(&span, &[]), None);
        let resource = vec![attr::string("sampling.probability", "0.5")];
        span.attributes.clear();
        assert_eq!(sampling_weight(&span, &resource), Some(2.0));
    }
}
