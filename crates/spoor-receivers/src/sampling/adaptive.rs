//! Adaptive sampling: per-operation probabilities computed from the traces actually stored, so that
//! every operation of an adaptive service keeps about `target_samples_per_second` traces per second.
//!
//! The semantics are Jaeger's adaptive sampler (`plugin/sampling/strategyprovider/adaptive`):
//! root spans are counted per service and operation into buckets of `calculation_interval`; every
//! interval the stored rate (weighted over the newest `buckets_for_calculation` buckets, newer
//! ones weigh more) is compared with the target; within `delta_tolerance` the probability stays,
//! otherwise it is moved proportionally (an increase at most +50 % per interval, as Jaeger caps
//! it), doubled when nothing was seen, and kept within `min_sampling_probability..=1`.
//!
//! Unlike Jaeger, which learns only from spans carrying Jaeger's `sampler.type`/`sampler.param`
//! tags (so OpenTelemetry SDKs never adapt, jaeger#6700), the probability a trace was sampled with
//! is taken from whichever signal its root span has: the W3C `tracestate` `ot=th:` threshold
//! (OpenTelemetry consistent probability sampling), Jaeger's sampler tags, or else the
//! probability Spoor served to that operation. The incoming rate of an operation is estimated as
//! the sum of `1/p` over its stored roots, and the new probability is `target / incoming rate`,
//! which is Jaeger's `old * target / stored` when the client used what was served.
//!
//! The learned probabilities are written to a state file in the data directory after each
//! calculation, so a restart keeps them.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;
use spoor_model::otlp_common::any_value::Value;

/// Most distinct (service, operation) pairs counted per bucket; more are dropped and counted.
pub const MAX_TRACKED_OPERATIONS: usize = 100_000;

/// Jaeger's `PercentageIncreaseCap`: a probability grows by at most half of itself per interval.
const INCREASE_CAP: f64 = 0.5;

/// `--sampling-adaptive` / the Jaeger v2 `adaptive` options (same names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Stored traces per second wanted for each operation.
    pub target_samples_per_second: f64,
    /// Relative distance from the target within which the probability is left alone.
    pub delta_tolerance: f64,
    /// How often probabilities are recalculated (and the length of a bucket).
    #[serde(with = "humantime_serde_lite")]
    pub calculation_interval: Duration,
    /// How many buckets of counts are kept.
    pub aggregation_buckets: usize,
    /// How many of the newest buckets the stored rate is computed from (weighted).
    pub buckets_for_calculation: usize,
    /// The probability of an operation not seen yet.
    pub initial_sampling_probability: f64,
    /// The lowest probability ever served.
    pub min_sampling_probability: f64,
    /// Served as the per-operation lower bound (traces per second every operation keeps).
    pub min_samples_per_second: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            target_samples_per_second: 1.0,
            delta_tolerance: 0.3,
            calculation_interval: Duration::from_secs(60),
            aggregation_buckets: 10,
            buckets_for_calculation: 1,
            initial_sampling_probability: 0.001,
            min_sampling_probability: 1e-5,
            min_samples_per_second: 1.0 / 60.0,
        }
    }
}

/// Why adaptive options are refused.
#[derive(Debug, thiserror::Error)]
#[error("adaptive sampling option {key}: {what}")]
pub struct AdaptiveConfigError {
    pub key: String,
    pub what: String,
}

fn bad(key: &str, what: impl Into<String>) -> AdaptiveConfigError {
    AdaptiveConfigError {
        key: key.to_string(),
        what: what.into(),
    }
}

impl AdaptiveConfig {
    /// Checks every option's range.
    pub fn validate(&self) -> Result<(), AdaptiveConfigError> {
        let unit = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(key, format!("{v} is outside 0..=1")))
            }
        };
        unit(
            "initial_sampling_probability",
            self.initial_sampling_probability,
        )?;
        unit("min_sampling_probability", self.min_sampling_probability)?;
        for (key, v) in [
            ("target_samples_per_second", self.target_samples_per_second),
            ("delta_tolerance", self.delta_tolerance),
            ("min_samples_per_second", self.min_samples_per_second),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(key, format!("{v} is not a finite number >= 0")));
            }
        }
        if self.target_samples_per_second == 0.0 {
            return Err(bad("target_samples_per_second", "must be above 0"));
        }
        if self.calculation_interval.is_zero() {
            return Err(bad("calculation_interval", "must be above 0s"));
        }
        if self.aggregation_buckets == 0 || self.buckets_for_calculation == 0 {
            return Err(bad("aggregation_buckets", "needs at least one bucket"));
        }
        if self.buckets_for_calculation > self.aggregation_buckets {
            return Err(bad(
                "buckets_for_calculation",
                "cannot exceed aggregation_buckets",
            ));
        }
        Ok(())
    }
}

/// `--sampling-adaptive on` (the defaults) or `key=value,key=value` (durations like `2s`).
impl FromStr for AdaptiveConfig {
    type Err = AdaptiveConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut c = Self::default();
        let s = s.trim();
        if s.is_empty() || s == "on" || s == "true" {
            return Ok(c);
        }
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(item, "expected key=value"));
            };
            let (key, value) = (key.trim(), value.trim());
            let num = || {
                value
                    .parse::<f64>()
                    .map_err(|e| bad(key, format!("{value:?}: {e}")))
            };
            let count = || {
                value
                    .parse::<usize>()
                    .map_err(|e| bad(key, format!("{value:?}: {e}")))
            };
            match key {
                "target_samples_per_second" => c.target_samples_per_second = num()?,
                "delta_tolerance" => c.delta_tolerance = num()?,
                "initial_sampling_probability" => c.initial_sampling_probability = num()?,
                "min_sampling_probability" => c.min_sampling_probability = num()?,
                "min_samples_per_second" => c.min_samples_per_second = num()?,
                "aggregation_buckets" => c.aggregation_buckets = count()?,
                "buckets_for_calculation" => c.buckets_for_calculation = count()?,
                "calculation_interval" => {
                    c.calculation_interval = humantime::parse_duration(value)
                        .map_err(|e| bad(key, format!("{value:?}: {e}")))?;
                }
                _ => {
                    return Err(bad(
                        key,
                        "unknown option (target_samples_per_second, delta_tolerance, calculation_interval, aggregation_buckets, buckets_for_calculation, initial_sampling_probability, min_sampling_probability, min_samples_per_second)",
                    ));
                }
            }
        }
        c.validate()?;
        Ok(c)
    }
}

/// Durations as humantime strings (`2s`, `1m`) in config files.
mod humantime_serde_lite {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// A probability a span states and the signal that states it (`tracestate`, `jaeger_tags`).
pub type Stated = Option<(f64, &'static str)>;

/// A stored root span as adaptive sampling counts it: service, operation, stated probability.
pub type Root = (String, String, Stated);

/// The probability a root span says it was sampled with, when it says so, and which signal said
/// it (`tracestate` or `jaeger_tags`).
pub fn span_probability(span: &spoor_model::Span) -> Stated {
    if let Some(p) = tracestate_probability(&span.trace_state) {
        return Some((p, "tracestate"));
    }
    jaeger_tag_probability(&span.attributes).map(|p| (p, "jaeger_tags"))
}

/// The probability encoded by the W3C `tracestate` `ot=th:` threshold (OpenTelemetry consistent
/// probability sampling): the rejection threshold `T` is up to 14 hex digits of a 56-bit number
/// (trailing zeros dropped), and `p = 1 - T / 2^56`.
pub fn tracestate_probability(trace_state: &str) -> Option<f64> {
    let ot = trace_state
        .split(',')
        .filter_map(|member| member.trim().split_once('='))
        .find(|(key, _)| *key == "ot")?
        .1;
    let th = ot
        .split(';')
        .filter_map(|kv| kv.split_once(':'))
        .find(|(key, _)| *key == "th")?
        .1;
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{th:0<14}");
    let threshold = u64::from_str_radix(&padded, 16).ok()?;
    let p = 1.0 - threshold as f64 / (1u64 << 56) as f64;
    (p > 0.0).then_some(p)
}

/// Jaeger clients' `sampler.type` = `probabilistic` with `sampler.param` = p (`const` with 1:
/// p = 1). Rate limiters and the lower bound say nothing about a probability.
pub fn jaeger_tag_probability(attrs: &[spoor_model::otlp_common::KeyValue]) -> Option<f64> {
    let kind = spoor_model::attr::find_str(attrs, "sampler.type")?;
    let param = match spoor_model::attr::find(attrs, "sampler.param")?
        .value
        .as_ref()?
    {
        Value::DoubleValue(d) => *d,
        Value::IntValue(i) => *i as f64,
        Value::StringValue(s) => s.parse().ok()?,
        Value::BoolValue(b) => f64::from(u8::from(*b)),
        _ => return None,
    };
    match kind {
        "probabilistic" if param > 0.0 && param <= 1.0 => Some(param),
        "const" if param == 1.0 => Some(1.0),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// Root spans stored.
    sampled: u64,
    /// Their estimated number before sampling (sum of 1/p).
    incoming: f64,
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Bucket {
    counts: HashMap<Key, Counts>,
    seconds: f64,
}

/// What is kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedState {
    /// service → operation → probability.
    probabilities: HashMap<String, HashMap<String, f64>>,
}

/// The calculator: counts, buckets and the learned probabilities. Time comes from the caller
/// (`tick(now)`), so tests drive it without waiting.
#[derive(Debug)]
pub struct Adaptive {
    config: AdaptiveConfig,
    current: Bucket,
    current_started: Option<Instant>,
    /// Newest first.
    buckets: VecDeque<Bucket>,
    probabilities: HashMap<String, HashMap<String, f64>>,
    dropped: u64,
}

impl Adaptive {
    pub fn new(config: AdaptiveConfig) -> Self {
        Self {
            config,
            current: Bucket::default(),
            current_started: None,
            buckets: VecDeque::new(),
            probabilities: HashMap::new(),
            dropped: 0,
        }
    }

    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// The learned probability of an operation, if one was calculated.
    pub fn probability(&self, service: &str, operation: &str) -> Option<f64> {
        self.probabilities.get(service)?.get(operation).copied()
    }

    /// Every learned probability of a service, sorted by operation.
    pub fn operations(&self, service: &str) -> Vec<(String, f64)> {
        let mut ops: Vec<(String, f64)> = self
            .probabilities
            .get(service)
            .map(|m| m.iter().map(|(o, p)| (o.clone(), *p)).collect())
            .unwrap_or_default();
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        ops
    }

    /// Pairs not counted because too many distinct operations were seen.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Counts one stored root span; `p` is the probability it was sampled with.
    pub fn observe(&mut self, service: &str, operation: &str, p: f64) {
        let p = if p.is_finite() && p > 0.0 {
            p.min(1.0)
        } else {
            1.0
        };
        let key = (service.to_string(), operation.to_string());
        let len = self.current.counts.len();
        match self.current.counts.get_mut(&key) {
            Some(c) => {
                c.sampled += 1;
                c.incoming += 1.0 / p;
            }
            None if len >= MAX_TRACKED_OPERATIONS => self.dropped += 1,
            None => {
                self.current.counts.insert(
                    key,
                    Counts {
                        sampled: 1,
                        incoming: 1.0 / p,
                    },
                );
            }
        }
    }

    /// Starts the first bucket (the calculator's clock begins here).
    pub fn start(&mut self, now: Instant) {
        self.current_started = Some(now);
    }

    /// Closes the current bucket at `now` and recalculates every probability. `target` gives an
    /// operation's target (a service's own target from the strategies file, else the config's).
    pub fn tick(&mut self, now: Instant, target: &dyn Fn(&str) -> f64) {
        let started = self.current_started.unwrap_or(now);
        let seconds = now.saturating_duration_since(started).as_secs_f64();
        self.current_started = Some(now);
        if seconds <= 0.0 {
            return;
        }
        let mut closed = std::mem::take(&mut self.current);
        closed.seconds = seconds;
        self.buckets.push_front(closed);
        self.buckets.truncate(self.config.aggregation_buckets);
        self.calculate(target);
    }

    fn calculate(&mut self, target: &dyn Fn(&str) -> f64) {
        let n = self.config.buckets_for_calculation.min(self.buckets.len());
        // Jaeger's weight vector: the i-th newest bucket weighs (n - i)^4, normalised.
        let weights: Vec<f64> = (0..n).map(|i| ((n - i) as f64).powi(4)).collect();
        let total: f64 = weights.iter().sum();
        let mut keys: Vec<Key> = self
            .buckets
            .iter()
            .take(n)
            .flat_map(|b| b.counts.keys().cloned())
            .collect();
        for (service, ops) in &self.probabilities {
            keys.extend(ops.keys().map(|o| (service.clone(), o.clone())));
        }
        keys.sort();
        keys.dedup();
        for (service, operation) in keys {
            let mut stored = 0.0;
            let mut incoming = 0.0;
            for (w, bucket) in weights.iter().zip(self.buckets.iter()) {
                let c = bucket
                    .counts
                    .get(&(service.clone(), operation.clone()))
                    .copied()
                    .unwrap_or_default();
                stored += w / total * c.sampled as f64 / bucket.seconds;
                incoming += w / total * c.incoming / bucket.seconds;
            }
            let old = self
                .probability(&service, &operation)
                .unwrap_or(self.config.initial_sampling_probability);
            let new = next_probability(&self.config, target(&service), stored, incoming, old);
            self.probabilities
                .entry(service)
                .or_default()
                .insert(operation, new);
        }
    }

    /// The learned probabilities as JSON (for the state file).
    pub fn save(&self) -> String {
        serde_json::to_string(&SavedState {
            probabilities: self.probabilities.clone(),
        })
        .unwrap_or_default()
    }

    /// Takes the probabilities of a state file; out-of-range values are skipped.
    pub fn restore(&mut self, json: &str) -> Result<usize, serde_json::Error> {
        let state: SavedState = serde_json::from_str(json)?;
        let mut n = 0;
        for (service, ops) in state.probabilities {
            for (op, p) in ops {
                if (self.config.min_sampling_probability..=1.0).contains(&p) {
                    self.probabilities
                        .entry(service.clone())
                        .or_default()
                        .insert(op, p);
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// One operation's next probability (Jaeger's `calculateProbability` with the proportional
/// calculator, the incoming rate estimated from what each trace was sampled at). The +50 % cap
/// applies to the probability the stored traces were sampled at (`stored / incoming`), which is
/// the served one for clients that obey it.
pub fn next_probability(
    config: &AdaptiveConfig,
    target: f64,
    stored: f64,
    incoming: f64,
    old: f64,
) -> f64 {
    let new = if (stored - target).abs() <= config.delta_tolerance * target {
        old
    } else if stored == 0.0 || incoming <= 0.0 {
        old * 2.0
    } else {
        // The probability the clients actually used (what was served, unless they say otherwise).
        let used = stored / incoming;
        let wanted = target / incoming;
        if wanted > used {
            wanted.min(used * (1.0 + INCREASE_CAP))
        } else {
            wanted
        }
    };
    new.clamp(config.min_sampling_probability, 1.0)
}

/// Where the learned probabilities are kept in a data directory.
pub fn state_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("sampling").join("adaptive.json")
}

/// Root spans of a batch with their tenant (the `spoor.tenant` resource attribute, tenancy on),
/// service, operation and stated probability.
pub fn roots(batch: &[ResourceSpans]) -> Vec<(Option<&str>, &str, &str, Stated)> {
    let mut out = Vec::new();
    for rs in batch {
        let service = spoor_model::service_name(rs.resource.as_ref());
        let tenant = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == crate::tenant::TENANT_ATTRIBUTE)
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    spoor_model::otlp_common::any_value::Value::StringValue(s) => Some(s.as_str()),
                    _ => None,
                })
        });
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                if span.parent_span_id.is_empty() {
                    out.push((tenant, service, span.name.as_str(), span_probability(span)));
                }
            }
        }
    }
    out
}
