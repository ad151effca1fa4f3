//! The `tail_sampling` processor: spans are buffered by trace id for `decision_wait`, then the
//! policies decide on the whole trace, and the trace is passed on or dropped.
//!
//! Semantics follow the Collector's `tailsamplingprocessor` (v0.161):
//! - `drop` policies are evaluated first; one that matches drops the trace.
//! - Otherwise a trace is kept if any policy samples it (`sample_on_first_match` stops at the
//!   first). A policy that fails (an OTTL error with `error_mode: propagate`) is skipped for that
//!   trace and counted.
//! - `invert_match` in the attribute policies gives a plain "not sampled" when the attribute
//!   matches, as in v0.161 (the older "inverted not sampled" veto was removed upstream).
//! - Late spans of a decided trace follow the decision (decisions are remembered in the
//!   `decision_cache`; when a cache size is 0, the last `num_traces` decisions are kept), counted
//!   in `spoor_tail_sampling_late_spans_total`.
//!
//! Memory is bounded by `num_traces`: when a new trace would exceed it, the oldest undecided
//! trace is decided at once (counted in `spoor_tail_sampling_traces_decided_early_total`)
//! instead of being dropped unseen as the Collector does.
//! A batch is acknowledged once buffered (as in the Collector); a crash loses the buffered,
//! undecided traces.
//! At shutdown every pending trace is decided and passed on, unless
//! `drop_pending_traces_on_shutdown`.

mod metrics;
mod policy;
mod policy_config;
mod runtime;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub(crate) use metrics::TailSamplingMetrics;
pub use policy::PolicyConfig;
pub(crate) use runtime::TailSampler;

use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `processors.tail_sampling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// How long after its first span a trace is decided.
    pub decision_wait: Duration,
    /// Most traces held at once; beyond it the oldest is decided early.
    pub num_traces: u64,
    /// Sizing hint for the trace map.
    pub expected_new_traces_per_sec: u64,
    /// Remembered decisions, so late spans follow them.
    pub decision_cache: DecisionCacheConfig,
    /// Stop evaluating at the first policy that samples.
    pub sample_on_first_match: bool,
    /// At shutdown, drop undecided traces instead of deciding them.
    pub drop_pending_traces_on_shutdown: bool,
    pub policies: Vec<PolicyConfig>,
}

/// `decision_cache`: how many sampled and not-sampled trace ids are remembered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    pub sampled_cache_size: u64,
    pub non_sampled_cache_size: u64,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        Self {
            decision_wait: Duration::from_secs(30),
            num_traces: 50_000,
            expected_new_traces_per_sec: 0,
            decision_cache: DecisionCacheConfig::default(),
            sample_on_first_match: false,
            drop_pending_traces_on_shutdown: false,
            policies: Vec::new(),
        }
    }
}

impl TailSamplingConfig {
    /// The built policies with their names, drop policies first (as the Collector orders them).
    pub(crate) fn build_policies(&self) -> Result<Vec<(String, policy::Policy)>, ConfigError> {
        let mut built = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            let policy = policy::Policy::build(p).map_err(|e| {
                let sep = if e.path.is_empty() { "" } else { "." };
                ConfigError::new(format!("policies[{i}]{sep}{}", e.path), e.message)
            })?;
            built.push((p.name.clone(), policy));
        }
        built.sort_by_key(|(_, p)| !p.is_drop());
        Ok(built)
    }
}

impl ComponentConfig for TailSamplingConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.decision_wait.get().is_zero() {
            errors.push(ConfigError::new("decision_wait", "must be greater than 0"));
        }
        if self.num_traces == 0 {
            errors.push(ConfigError::new("num_traces", "must be greater than 0"));
        }
        if self.policies.is_empty() {
            errors.push(ConfigError::new("policies", "expected at least one policy"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            if p.name.is_empty() {
                errors.push(ConfigError::new(
                    format!("policies[{i}].name"),
                    "must be set",
                ));
            } else if !names.insert(p.name.as_str()) {
                errors.push(ConfigError::new(
                    format!("policies[{i}].name"),
                    format!("duplicate policy name {:?}", p.name),
                ));
            }
        }
        if let Err(e) = self.build_policies() {
            errors.push(e);
        }
        errors
    }

    fn into_spec(self) -> Spec {
        Spec::TailSampling(Box::new(self))
    }
}
