//! The tail sampling policies: their config (the Collector's option names) and their
//! evaluation over a whole buffered trace, following the Collector's `tailsamplingprocessor`
//! v0.161 evaluator by evaluator (how a missing or mistyped attribute reads, how `invert_match`
//! works, the latency policy's running window, the probabilistic policy's FNV hash).

use std::collections::HashSet;
use std::sync::Mutex;

use regex::Regex;
use spoor_model::ResourceSpans;
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, KeyValue};
use spoor_model::otlp_trace::Span;

use crate::ConfigError;
use crate::processors::ErrorMode;
use crate::processors::ottl::{Condition, Context, EvalCtx};

pub use super::policy_config::*;

/// What one policy says about a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    /// A `drop` policy matched: the trace is dropped whatever the others say.
    Dropped,
}

/// A whole buffered trace, as the policies see it.
pub struct TraceData {
    pub id: [u8; 16],
    pub batches: Vec<ResourceSpans>,
    pub span_count: i64,
}

/// The time policies see: seconds since the Unix epoch (rate limiting, composite budgets).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub secs: f64,
}

/// A built policy.
pub enum Policy {
    AlwaysSample,
    Latency {
        threshold_ms: i64,
        upper_threshold_ms: i64,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        salt: String,
        threshold: u64,
        /// `sampling_percentage / 100`, multiplied into the kept spans' `sampling.probability`.
        probability: f64,
    },
    StatusCode(Vec<i32>),
    StringAttribute {
        key: String,
        matcher: StringMatcher,
        invert: bool,
    },
    RateLimiting(Mutex<TokenBucket>),
    SpanCount {
        min: i64,
        max: i64,
    },
    TraceState {
        key: String,
        values: HashSet<String>,
    },
    Boolean {
        key: String,
        value: bool,
        invert: bool,
    },
    Ottl {
        span: Vec<Condition>,
        spanevent: Vec<Condition>,
        error_mode: ErrorMode,
    },
    And(Vec<Policy>),
    Composite {
        max_total: i64,
        subs: Vec<(Policy, i64)>,
        /// The current second and the spans each sub-policy sampled in it.
        state: Mutex<(i64, Vec<i64>)>,
    },
    Drop(Vec<Policy>),
}

pub enum StringMatcher {
    Values(HashSet<String>),
    Regexes(Vec<Regex>),
}

impl StringMatcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            StringMatcher::Values(v) => v.contains(s),
            StringMatcher::Regexes(r) => r.iter().any(|r| r.is_match(s)),
        }
    }
}

/// `golang.org/x/time/rate`'s limiter as the Collector uses it: `rate` tokens per second up to
/// `burst`; a request for `n` takes `n` tokens or none.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<f64>,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    fn allow(&mut self, now: f64, n: f64) -> bool {
        if let Some(last) = self.last
            && now > last
        {
            self.tokens = (self.tokens + (now - last) * self.rate).min(self.burst);
        }
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        if n > self.burst || n > self.tokens {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// The Collector's default salt of the probabilistic policy.
const DEFAULT_HASH_SALT: &str = "default-hash-seed";

pub(crate) fn fnv1a64(salt: &[u8], id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.iter().chain(id) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `MaxUint64 × ratio` as Go's `big.Float` computes it (64-bit mantissa, round to nearest even),
/// then truncated to an integer, saturating.
pub(crate) fn probability_threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = m × 2^e exactly, m < 2^53.
    let bits = ratio.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let mut p = u128::from(u64::MAX) * u128::from(m);
    let mut e = e;
    let width = 128 - p.leading_zeros() as i64;
    if width > 64 {
        let shift = (width - 64) as u32;
        let rem = p & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        p >>= shift;
        if rem > half || (rem == half && p & 1 == 1) {
            p += 1;
        }
        e += i64::from(shift);
    }
    if e >= 0 {
        return u64::try_from(p << e.min(64)).unwrap_or(u64::MAX);
    }
    let shift = (-e).min(127) as u32;
    u64::try_from(p >> shift).unwrap_or(u64::MAX)
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// pdata's `Value.Int()`: 0 unless the value is an int.
fn as_int(v: &AnyValue) -> i64 {
    match v.value {
        Some(Value::IntValue(i)) => i,
        _ => 0,
    }
}

/// pdata's `Value.Bool()`: false unless the value is a bool.
fn as_bool(v: &AnyValue) -> bool {
    matches!(v.value, Some(Value::BoolValue(true)))
}

/// pdata's `Value.Str()`: "" unless the value is a string.
fn as_str(v: &AnyValue) -> &str {
    match &v.value {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

fn spans(batches: &[ResourceSpans]) -> impl Iterator<Item = &Span> {
    batches
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
}

fn sampled_if(b: bool) -> Decision {
    if b {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

/// `hasResourceOrSpanWithCondition` and its inverted form from the Collector's `util.go`: not
/// inverted, sampled when a resource or a span matches; inverted, sampled only when every
/// resource and every span passes.
fn resource_or_span(
    batches: &[ResourceSpans],
    invert: bool,
    resource_ok: impl Fn(&[KeyValue]) -> bool,
    span_ok: impl Fn(&Span) -> bool,
) -> Decision {
    for rs in batches {
        let attrs = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let all_spans = rs.scope_spans.iter().flat_map(|ss| ss.spans.iter());
        if invert {
            if !resource_ok(attrs) {
                return Decision::NotSampled;
            }
            if all_spans.into_iter().any(|s| !span_ok(s)) {
                return Decision::NotSampled;
            }
        } else {
            if resource_ok(attrs) {
                return Decision::Sampled;
            }
            if all_spans.into_iter().any(&span_ok) {
                return Decision::Sampled;
            }
        }
    }
    sampled_if(invert)
}

/// The value of `key` in a W3C `tracestate` header, if it parses.
fn trace_state_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .find_map(|member| {
            let (k, v) = member.split_once('=')?;
            (k == key).then_some(v)
        })
}

impl Policy {
    /// The chance this policy keeps a trace whose other conditions it meets: its probabilistic
    /// part (`probabilistic`, or the product of those inside `and`); 1 for the others.
    pub fn keep_probability(&self) -> f64 {
        match self {
            Policy::Probabilistic { probability, .. } => *probability,
            Policy::And(subs) => subs.iter().map(Policy::keep_probability).product(),
            _ => 1.0,
        }
    }

    /// Builds a policy; errors carry the path of the option inside the policy.
    pub fn build(c: &PolicyConfig) -> Result<Policy, ConfigError> {
        fn need<'a, T>(o: &'a Option<T>, name: &str) -> Result<&'a T, ConfigError> {
            o.as_ref().ok_or_else(|| {
                ConfigError::new(name, format!("policy type {name} needs its {name} block"))
            })
        }
        Ok(match c.ty.as_str() {
            "always_sample" => Policy::AlwaysSample,
            "latency" => {
                let l = need(&c.latency, "latency")?;
                if l.upper_threshold_ms != 0 && l.upper_threshold_ms < l.threshold_ms {
                    return Err(ConfigError::new(
                        "latency.upper_threshold_ms",
                        "must be greater than threshold_ms",
                    ));
                }
                Policy::Latency {
                    threshold_ms: l.threshold_ms,
                    upper_threshold_ms: l.upper_threshold_ms,
                }
            }
            "numeric_attribute" => {
                let n = need(&c.numeric_attribute, "numeric_attribute")?;
                if n.min_value.is_none() && n.max_value.is_none() {
                    return Err(ConfigError::new(
                        "numeric_attribute",
                        "set min_value or max_value",
                    ));
                }
                Policy::Numeric {
                    key: n.key.clone(),
                    min: n.min_value.unwrap_or(i64::MIN),
                    max: n.max_value.unwrap_or(i64::MAX),
                    invert: n.invert_match,
                }
            }
            "probabilistic" => {
                let p = need(&c.probabilistic, "probabilistic")?;
                if !(0.0..=100.0).contains(&p.sampling_percentage) {
                    return Err(ConfigError::new(
                        "probabilistic.sampling_percentage",
                        format!("must be between 0 and 100, got {}", p.sampling_percentage),
                    ));
                }
                Policy::Probabilistic {
                    salt: if p.hash_salt.is_empty() {
                        DEFAULT_HASH_SALT.to_string()
                    } else {
                        p.hash_salt.clone()
                    },
                    threshold: probability_threshold(p.sampling_percentage / 100.0),
                    probability: p.sampling_percentage / 100.0,
                }
            }
            "status_code" => {
                let s = need(&c.status_code, "status_code")?;
                if s.status_codes.is_empty() {
                    return Err(ConfigError::new(
                        "status_code.status_codes",
                        "expected at least one status code",
                    ));
                }
                let mut codes = Vec::new();
                for (i, code) in s.status_codes.iter().enumerate() {
                    codes.push(match code.as_str() {
                        "UNSET" => 0,
                        "OK" => 1,
                        "ERROR" => 2,
                        other => {
                            return Err(ConfigError::new(
                                format!("status_code.status_codes[{i}]"),
                                format!(
                                    "unknown status code {other:?}, supported: OK, ERROR, UNSET"
                                ),
                            ));
                        }
                    });
                }
                Policy::StatusCode(codes)
            }
            "string_attribute" => {
                let s = need(&c.string_attribute, "string_attribute")?;
                let matcher = if s.enabled_regex_matching {
                    let mut rs = Vec::new();
                    for (i, v) in s.values.iter().enumerate() {
                        rs.push(Regex::new(v).map_err(|e| {
                            ConfigError::new(
                                format!("string_attribute.values[{i}]"),
                                format!("invalid regex {v:?}: {e}"),
                            )
                        })?);
                    }
                    StringMatcher::Regexes(rs)
                } else {
                    StringMatcher::Values(
                        s.values.iter().filter(|v| !v.is_empty()).cloned().collect(),
                    )
                };
                Policy::StringAttribute {
                    key: s.key.clone(),
                    matcher,
                    invert: s.invert_match,
                }
            }
            "rate_limiting" => {
                let r = need(&c.rate_limiting, "rate_limiting")?;
                if r.spans_per_second <= 0 {
                    return Err(ConfigError::new(
                        "rate_limiting.spans_per_second",
                        "must be greater than 0",
                    ));
                }
                let burst = if r.burst_capacity > 0 {
                    r.burst_capacity
                } else {
                    r.spans_per_second * 2
                };
                Policy::RateLimiting(Mutex::new(TokenBucket::new(
                    r.spans_per_second as f64,
                    burst as f64,
                )))
            }
            "span_count" => {
                let s = need(&c.span_count, "span_count")?;
                if s.max_spans != 0 && s.max_spans < s.min_spans {
                    return Err(ConfigError::new(
                        "span_count.max_spans",
                        "must be 0 or at least min_spans",
                    ));
                }
                Policy::SpanCount {
                    min: i64::from(s.min_spans),
                    max: i64::from(s.max_spans),
                }
            }
            "trace_state" => {
                let t = need(&c.trace_state, "trace_state")?;
                Policy::TraceState {
                    key: t.key.clone(),
                    values: t
                        .values
                        .iter()
                        .filter(|v| !v.is_empty() && t.key.len() + v.len() < 256)
                        .cloned()
                        .collect(),
                }
            }
            "boolean_attribute" => {
                let b = need(&c.boolean_attribute, "boolean_attribute")?;
                Policy::Boolean {
                    key: b.key.clone(),
                    value: b.value,
                    invert: b.invert_match,
                }
            }
            "ottl_condition" => {
                let o = need(&c.ottl_condition, "ottl_condition")?;
                if o.span.is_empty() && o.spanevent.is_empty() {
                    return Err(ConfigError::new(
                        "ottl_condition",
                        "expected at least one OTTL condition to filter on",
                    ));
                }
                let parse = |list: &[String], ctx: Context, name: &str| {
                    list.iter()
                        .enumerate()
                        .map(|(i, s)| {
                            Condition::parse(s, ctx).map_err(|e| {
                                ConfigError::new(
                                    format!("ottl_condition.{name}[{i}]"),
                                    format!("{e} in {s:?}"),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                };
                Policy::Ottl {
                    span: parse(&o.span, Context::Span, "span")?,
                    spanevent: parse(&o.spanevent, Context::SpanEvent, "spanevent")?,
                    error_mode: o.error_mode,
                }
            }
            "and" => {
                let a = need(&c.and, "and")?;
                Policy::And(build_subs(&a.and_sub_policy, "and.and_sub_policy")?)
            }
            "drop" => {
                let d = need(&c.drop, "drop")?;
                Policy::Drop(build_subs(&d.drop_sub_policy, "drop.drop_sub_policy")?)
            }
            "composite" => {
                let k = need(&c.composite, "composite")?;
                let subs = build_subs(&k.composite_sub_policy, "composite.composite_sub_policy")?;
                if subs.is_empty() {
                    return Err(ConfigError::new(
                        "composite.composite_sub_policy",
                        "expected at least one sub-policy",
                    ));
                }
                let max = k.max_total_spans_per_second as f64;
                let default = max / subs.len() as f64;
                let allocated = k.composite_sub_policy.iter().map(|p| {
                    k.rate_allocation
                        .iter()
                        .rev()
                        .find(|r| r.policy == p.name)
                        .filter(|r| r.percent > 0)
                        .map_or(default, |r| r.percent as f64 / 100.0 * max)
                        as i64
                });
                let subs: Vec<(Policy, i64)> = subs.into_iter().zip(allocated).collect();
                let n = subs.len();
                Policy::Composite {
                    max_total: k.max_total_spans_per_second,
                    subs,
                    state: Mutex::new((i64::MIN, vec![0; n])),
                }
            }
            other => {
                return Err(ConfigError::new(
                    "type",
                    format!(
                        "unknown policy type {other:?}; known: always_sample, latency, numeric_attribute, probabilistic, status_code, string_attribute, rate_limiting, span_count, trace_state, boolean_attribute, ottl_condition, and, composite, drop"
                    ),
                ));
            }
        })
    }

    pub fn is_drop(&self) -> bool {
        matches!(self, Policy::Drop(_))
    }

    /// What this policy says about `trace`; `Err` is a policy error (the Collector skips the
    /// policy for this trace and counts the error).
    pub fn evaluate(&self, trace: &mut TraceData, now: Now) -> Result<Decision, String> {
        Ok(match self {
            Policy::AlwaysSample => Decision::Sampled,
            Policy::Latency {
                threshold_ms,
                upper_threshold_ms,
            } => {
                // The Collector's running window: the first span at which the spread of the
                // spans seen so far is in range decides.
                let (mut min, mut max) = (0u64, 0u64);
                sampled_if(spans(&trace.batches).any(|s| {
                    if min == 0 || s.start_time_unix_nano < min {
                        min = s.start_time_unix_nano;
                    }
                    if max == 0 || s.end_time_unix_nano > max {
                        max = s.end_time_unix_nano;
                    }
                    let ms = (max as i128 - min as i128) / 1_000_000;
                    let ms = ms as i64;
                    if *upper_threshold_ms == 0 {
                        ms > *threshold_ms
                    } else {
                        *threshold_ms < ms && ms <= *upper_threshold_ms
                    }
                }))
            }
            Policy::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let in_range = |attrs: &[KeyValue]| {
                    get(attrs, key).map(|v| {
                        let i = as_int(v);
                        *min <= i && i <= *max
                    })
                };
                if *invert {
                    resource_or_span(
                        &trace.batches,
                        true,
                        |a| in_range(a) != Some(true),
                        |s| in_range(&s.attributes) != Some(true),
                    )
                } else {
                    resource_or_span(
                        &trace.batches,
                        false,
                        |a| in_range(a) == Some(true),
                        |s| in_range(&s.attributes) == Some(true),
                    )
                }
            }
            Policy::Probabilistic {
                salt, threshold, ..
            } => sampled_if(fnv1a64(salt.as_bytes(), &trace.id) <= *threshold),
            Policy::StatusCode(codes) => sampled_if(spans(&trace.batches).any(|s| {
                let code = s.status.as_ref().map_or(0, |st| st.code);
                codes.contains(&code)
            })),
            Policy::StringAttribute {
                key,
                matcher,
                invert,
            } => {
                let res = |a: &[KeyValue]| get(a, key).map(|v| matcher.matches(as_str(v)));
                let span = |s: &Span| {
                    get(&s.attributes, key)
                        .map(as_str)
                        .filter(|v| !v.is_empty())
                        .map(|v| matcher.matches(v))
                };
                if *invert {
                    resource_or_span(
                        &trace.batches,
                        true,
                        |a| res(a) != Some(true),
                        |s| span(s) != Some(true),
                    )
                } else {
                    resource_or_span(
                        &trace.batches,
                        false,
                        |a| res(a) == Some(true),
                        |s| span(s) == Some(true),
                    )
                }
            }
            Policy::RateLimiting(bucket) => {
                let mut b = bucket.lock().map_err(|_| "rate limiter poisoned")?;
                sampled_if(b.allow(now.secs, trace.span_count as f64))
            }
            Policy::SpanCount { min, max } => {
                let n = trace.span_count;
                sampled_if(n >= *min && (*max == 0 || n <= *max))
            }
            Policy::TraceState { key, values } => sampled_if(spans(&trace.batches).any(|s| {
                trace_state_value(&s.trace_state, key).is_some_and(|v| values.contains(v))
            })),
            Policy::Boolean { key, value, invert } => {
                let eq = |a: &[KeyValue]| get(a, key).map(|v| as_bool(v) == *value);
                if *invert {
                    resource_or_span(
                        &trace.batches,
                        true,
                        |a| eq(a) != Some(true),
                        |s| eq(&s.attributes) != Some(true),
                    )
                } else {
                    resource_or_span(
                        &trace.batches,
                        false,
                        |a| eq(a) == Some(true),
                        |s| eq(&s.attributes) == Some(true),
                    )
                }
            }
            Policy::Ottl {
                span,
                spanevent,
                error_mode,
            } => evaluate_ottl(trace, span, spanevent, *error_mode)?,
            Policy::And(subs) => {
                for sub in subs {
                    if sub.evaluate(trace, now)? == Decision::NotSampled {
                        return Ok(Decision::NotSampled);
                    }
                }
                Decision::Sampled
            }
            Policy::Drop(subs) => {
                for sub in subs {
                    if sub.evaluate(trace, now)? == Decision::NotSampled {
                        return Ok(Decision::NotSampled);
                    }
                }
                Decision::Dropped
            }
            Policy::Composite {
                max_total,
                subs,
                state,
            } => {
                let second = now.secs.floor() as i64;
                let mut st = state.lock().map_err(|_| "composite state poisoned")?;
                if st.0 != second {
                    st.0 = second;
                    st.1.iter_mut().for_each(|n| *n = 0);
                }
                for (i, (sub, allocated)) in subs.iter().enumerate() {
                    if sub.evaluate(trace, now)? == Decision::Sampled {
                        let after = st.1[i] + trace.span_count;
                        if after <= *allocated && after <= *max_total {
                            st.1[i] = after;
                            return Ok(Decision::Sampled);
                        }
                        return Ok(Decision::NotSampled);
                    }
                }
                Decision::NotSampled
            }
        })
    }
}

fn build_subs(list: &[PolicyConfig], path: &str) -> Result<Vec<Policy>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            Policy::build(p)
                .map_err(|e| ConfigError::new(format!("{path}[{i}].{}", e.path), e.message))
        })
        .collect()
}

/// The `ottl_condition` policy: sampled when a span (or span event) satisfies any condition.
fn evaluate_ottl(
    trace: &mut TraceData,
    span_conds: &[Condition],
    event_conds: &[Condition],
    error_mode: ErrorMode,
) -> Result<Decision, String> {
    let any = |conds: &[Condition], ctx: &EvalCtx<'_>| -> Result<bool, String> {
        for c in conds {
            match c.eval(ctx) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) if error_mode == ErrorMode::Propagate => return Err(e),
                Err(_) => {}
            }
        }
        Ok(false)
    };
    for rs in trace.batches.iter_mut() {
        let mut resource = rs.resource.take();
        let mut result = Ok(false);
        'scopes: for ss in rs.scope_spans.iter_mut() {
            let scope = ss.scope.as_ref();
            for span in ss.spans.iter_mut() {
                if !span_conds.is_empty() {
                    let ctx = EvalCtx {
                        resource: resource.as_mut(),
                        scope,
                        span: Some(&mut *span),
                        event: None,
                    };
                    result = any(span_conds, &ctx);
                    if !matches!(result, Ok(false)) {
                        break 'scopes;
                    }
                }
                if !event_conds.is_empty() {
                    let mut events = std::mem::take(&mut span.events);
                    for event in events.iter_mut() {
                        let ctx = EvalCtx {
                            resource: resource.as_mut(),
                            scope,
                            span: Some(&mut *span),
                            event: Some(event),
                        };
                        result = any(event_conds, &ctx);
                        if !matches!(result, Ok(false)) {
                            break;
                        }
                    }
                    span.events = events;
                    if !matches!(result, Ok(false)) {
                        break 'scopes;
                    }
                }
            }
        }
        rs.resource = resource;
        match result {
            Ok(true) => return Ok(Decision::Sampled),
            Ok(false) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Decision::NotSampled)
}
