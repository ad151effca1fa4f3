//! The `probabilistic_sampler` processor for traces: keeps a fraction of traces, deciding per
//! trace id so every span of a trace gets the same decision (in any batch, on any replica with
//! the same config).
//!
//! ```yaml
//! processors:
//!   probabilistic_sampler:
//!     sampling_percentage: 15.3
//!     hash_seed: 22        # selects mode hash_seed when mode is not set
//!     mode: hash_seed      # hash_seed | proportional (default) | equalizing
//!     sampling_precision: 4
//! ```
//!
//! - `hash_seed`: the Collector's original method. The 32-bit FNV-1a hash of the seed (4 bytes,
//!   little-endian) followed by the 16 trace id bytes, masked to 14 bits, is compared with
//!   `sampling_percentage × 163.84` (computed in 32-bit float and truncated, as the Collector
//!   does). Kept spans get `rv` (the derived randomness) and `th` in the `ot` entry of their
//!   W3C trace state; spans that already carry `rv` or `th` are dropped.
//! - `proportional` / `equalizing`: OpenTelemetry consistent probability sampling. The
//!   randomness is `rv` from the trace state or the low 56 bits of the trace id; a span is kept
//!   when it is at least the rejection threshold, which is written back as `th` (rounded to
//!   `sampling_precision` hex digits). `proportional` multiplies an arriving sampling
//!   probability by the configured one; `equalizing` applies the configured probability unless
//!   the arriving one is already lower.
//! - A span attribute `sampling.priority` (int, double or numeric string) overrides: `0` drops
//!   the span, a positive value keeps it.
//!
//! `attribute_source`, `from_attribute` and `fail_closed` concern logs or the newest Collector
//! and are accepted without effect on traces.

use serde::{Deserialize, Serialize};
use spoor_model::otlp_common::any_value::Value;
use spoor_model::{ResourceSpans, Span};

use super::common;
use crate::{ConfigError, ProcessError, SpanProcessor};

const MAX_ADJUSTED: u64 = 1 << 56;
const HASH_BUCKETS: u32 = 0x4000;

/// Options of the `probabilistic_sampler` processor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticSamplerConfig {
    #[serde(default)]
    pub sampling_percentage: f32,
    #[serde(default)]
    pub hash_seed: u32,
    #[serde(default)]
    pub mode: String,
    #[serde(default = "default_precision")]
    pub sampling_precision: usize,
    #[serde(default = "default_true")]
    pub fail_closed: bool,
    #[serde(default)]
    pub attribute_source: Option<String>,
    #[serde(default)]
    pub from_attribute: Option<String>,
}

fn default_precision() -> usize {
    4
}

fn default_true() -> bool {
    true
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        Self {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: String::new(),
            sampling_precision: 4,
            fail_closed: true,
            attribute_source: None,
            from_attribute: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    HashSeed,
    Proportional,
    Equalizing,
}

struct Sampler {
    mode: Mode,
    seed: u32,
    /// hash_seed: accepted buckets out of 2^14.
    scaled_rate: u32,
    ratio: f64,
    precision: usize,
}

impl ProbabilisticSamplerConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        let pct = self.sampling_percentage;
        if !pct.is_finite() || pct < 0.0 {
            return Err(ConfigError::new(
                "sampling_percentage",
                format!("must be a number between 0 and 100, got {pct}"),
            ));
        }
        if !(1..=14).contains(&self.sampling_precision) {
            return Err(ConfigError::new(
                "sampling_precision",
                format!("must be between 1 and 14, got {}", self.sampling_precision),
            ));
        }
        let mode = match self.mode.as_str() {
            "" if self.hash_seed != 0 => Mode::HashSeed,
            "" | "proportional" => Mode::Proportional,
            "hash_seed" => Mode::HashSeed,
            "equalizing" => Mode::Equalizing,
            other => {
                return Err(ConfigError::new(
                    "mode",
                    format!(
                        "unsupported sampler mode {other:?}: expected hash_seed, proportional or equalizing"
                    ),
                ));
            }
        };
        let pct = pct.min(100.0);
        let ratio = (f64::from(pct) / 100.0).max(if pct > 0.0 {
            1.0 / MAX_ADJUSTED as f64
        } else {
            0.0
        });
        Ok(Box::new(Sampler {
            mode,
            seed: self.hash_seed,
            scaled_rate: (pct * (HASH_BUCKETS as f32 / 100.0)) as u32,
            ratio,
            precision: self.sampling_precision,
        }))
    }
}

/// FNV-1a (32 bit) over the seed's little-endian bytes and then `data`.
pub fn fnv1a_seeded(data: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in seed.to_le_bytes().iter().chain(data) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The 56-bit randomness the Collector derives from a hash in hash_seed mode.
fn hash_randomness(trace_id: &[u8], seed: u32) -> u64 {
    let hashed32 = fnv1a_seeded(trace_id, seed);
    let hashed = u64::from(hashed32 & (HASH_BUCKETS - 1));
    let rprime14 = u64::from(HASH_BUCKETS) - 1 - hashed;
    // As the Collector mixes them: the hash's top 14 bits, spread over the middle 28 bits
    // (checked against the real Collector by tests/peers/test_otelcol_diff.py).
    let unused = u64::from(hashed32 >> 18);
    let mixed28 = unused ^ (unused << 10);
    (rprime14 << 42) | ((mixed28 & ((1 << 28) - 1)) << 14) | hashed
}

/// The rejection threshold for a probability, rounded to `precision` hex digits.
fn threshold_for(p: f64, precision: usize) -> u64 {
    if p >= 1.0 {
        return 0;
    }
    let mut precision = precision;
    let mut reject = 1.0 - p;
    while reject * 16.0 < 1.0 && precision < 14 {
        reject *= 16.0;
        precision += 1;
    }
    let scaled = (p * MAX_ADJUSTED as f64).round() as u64;
    let mut t = MAX_ADJUSTED.saturating_sub(scaled);
    let shift = 4 * (14 - precision.min(14));
    if shift > 0 {
        t = ((t + (1u64 << (shift - 1))) >> shift) << shift;
    }
    t.min(MAX_ADJUSTED)
}

/// The `th` text of a threshold: 14 hex digits without trailing zeros (`0` for always).
fn tvalue(t: u64) -> String {
    if t == 0 {
        return "0".into();
    }
    let s = format!("{t:014x}");
    s.trim_end_matches('0').to_string()
}

fn parse_tvalue(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 14 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0<14}");
    u64::from_str_radix(&padded, 16).ok()
}

/// The `ot` entry of a W3C trace state, split into its fields.
struct OtState {
    rv: Option<String>,
    th: Option<String>,
    extra: Vec<String>,
    others: Vec<String>,
}

fn parse_trace_state(ts: &str) -> OtState {
    let mut st = OtState {
        rv: None,
        th: None,
        extra: Vec::new(),
        others: Vec::new(),
    };
    for member in ts.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match member.strip_prefix("ot=") {
            Some(ot) => {
                for field in ot.split(';').filter(|f| !f.is_empty()) {
                    match field.split_once(':') {
                        Some(("rv", v)) => st.rv = Some(v.to_string()),
                        Some(("th", v)) => st.th = Some(v.to_string()),
                        _ => st.extra.push(field.to_string()),
                    }
                }
            }
            None => st.others.push(member.to_string()),
        }
    }
    st
}

fn serialize_trace_state(st: &OtState) -> String {
    let mut fields = Vec::new();
    if let Some(rv) = &st.rv {
        fields.push(format!("rv:{rv}"));
    }
    if let Some(th) = &st.th {
        fields.push(format!("th:{th}"));
    }
    fields.extend(st.extra.iter().cloned());
    let mut members = Vec::new();
    if !fields.is_empty() {
        members.push(format!("ot={}", fields.join(";")));
    }
    members.extend(st.others.iter().cloned());
    members.join(",")
}

enum Priority {
    Defer,
    Keep,
    Drop,
}

fn priority(span: &Span) -> Priority {
    let v = match common::get(&span.attributes, "sampling.priority").and_then(|v| v.value.as_ref())
    {
        Some(Value::IntValue(i)) => *i as f64,
        Some(Value::DoubleValue(d)) => *d,
        Some(Value::StringValue(s)) => match s.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return Priority::Defer,
        },
        _ => return Priority::Defer,
    };
    if v == 0.0 {
        Priority::Drop
    } else if v > 0.0 {
        Priority::Keep
    } else {
        Priority::Defer
    }
}

impl Sampler {
    /// Decides for one span and updates its trace state when kept.
    fn keep(&self, span: &mut Span) -> bool {
        let prio = priority(span);
        if matches!(prio, Priority::Drop) {
            return false;
        }
        let mut st = parse_trace_state(&span.trace_state);
        let arriving_th = st.th.as_deref().and_then(parse_tvalue);
        let (randomness, threshold) = match self.mode {
            Mode::HashSeed => {
                if st.rv.is_some() || st.th.is_some() {
                    // The Collector refuses to mix the legacy hash with consistent sampling.
                    return matches!(prio, Priority::Keep);
                }
                let rnd = hash_randomness(&span.trace_id, self.seed);
                st.rv = Some(format!("{rnd:014x}"));
                let t = if self.scaled_rate == 0 {
                    MAX_ADJUSTED
                } else {
                    u64::from(HASH_BUCKETS - self.scaled_rate.min(HASH_BUCKETS)) << 42
                };
                (rnd, t)
            }
            Mode::Proportional | Mode::Equalizing => {
                let rnd = match st.rv.as_deref() {
                    Some(rv) if rv.len() == 14 => match u64::from_str_radix(rv, 16) {
                        Ok(v) => v,
                        Err(_) => return matches!(prio, Priority::Keep),
                    },
                    Some(_) => return matches!(prio, Priority::Keep),
                    None if span.trace_id.len() == 16 && span.trace_id.iter().any(|b| *b != 0) => {
                        span.trace_id[9..16]
                            .iter()
                            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
                    }
                    None => return matches!(prio, Priority::Keep),
                };
                if let Some(th) = arriving_th
                    && rnd < th
                {
                    // Inconsistent arriving threshold: cleared, as the Collector does.
                    st.th = None;
                }
                let arriving = st.th.as_deref().and_then(parse_tvalue);
                let t = if self.ratio <= 0.0 {
                    MAX_ADJUSTED
                } else if self.mode == Mode::Equalizing {
                    threshold_for(self.ratio, self.precision).max(arriving.unwrap_or(0))
                } else {
                    let incoming = arriving
                        .map(|t| (MAX_ADJUSTED - t) as f64 / MAX_ADJUSTED as f64)
                        .unwrap_or(1.0);
                    let p = (incoming * self.ratio).max(1.0 / MAX_ADJUSTED as f64);
                    threshold_for(p, self.precision)
                };
                (rnd, t)
            }
        };
        let (sampled, t) = match prio {
            Priority::Keep => (true, 0),
            _ => (randomness >= threshold, threshold),
        };
        if sampled {
            st.th = Some(tvalue(t));
            span.trace_state = serialize_trace_state(&st);
        }
        sampled
    }
}

impl SpanProcessor for Sampler {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for rs in &mut batch {
            for ss in &mut rs.scope_spans {
                ss.spans.retain_mut(|s| self.keep(s));
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        Ok(batch)
    }
}

#[cfg(test)]
#[path = "probabilistic_sampler_tests.rs"]
mod tests;
