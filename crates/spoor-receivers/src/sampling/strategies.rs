//! Jaeger's file-based sampling strategies: the file format, and the response served per service.
//!
//! The file is Jaeger's `sampling.json` (`default_strategy`, `service_strategies` with `type`
//! `probabilistic` / `ratelimiting` and `operation_strategies`). Its meaning follows Jaeger's file
//! provider: a service's per-operation strategies are merged with the default strategy's, a
//! service without its own takes the default's (with its own probability as the operations'
//! default), rate-limiting operation strategies are skipped (clients only take probabilities per
//! operation), and an entry without a known `type` gets the default probability.
//!
//! Spoor is stricter where Jaeger would serve nonsense: a probability outside 0..=1, a negative
//! or non-finite rate, or a file that is not an object is refused as a whole (so a reload keeps
//! the strategies it had). Keys Jaeger ignores are accepted and reported as warnings. The seeds'
//! spellings are accepted too: `rate_limiting`, `per_service_strategies`, a top-level `sampling:`
//! wrapper (the file may be YAML), and `max_traces_per_second` as a rate limiter's parameter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Jaeger's default probability for services without a strategy (`--sampling-default-probability`).
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// Why a strategies file is refused.
#[derive(Debug, thiserror::Error)]
pub enum StrategiesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not a sampling strategies file: {0}")]
    Parse(String),
    #[error("{at}: {what}")]
    Invalid { at: String, what: String },
}

/// What a client is told to do: the strategy response of Jaeger's `SamplingManager`.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyResponse {
    pub kind: StrategyKind,
    pub operations: Option<OperationSampling>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrategyKind {
    Probabilistic(f64),
    RateLimiting(i32),
}

/// Per-operation probabilities (Jaeger's `PerOperationSamplingStrategies`).
#[derive(Debug, Clone, PartialEq)]
pub struct OperationSampling {
    pub default_probability: f64,
    pub default_lower_bound_traces_per_second: f64,
    pub default_upper_bound_traces_per_second: f64,
    pub per_operation: Vec<(String, f64)>,
}

impl StrategyResponse {
    pub fn probabilistic(p: f64) -> Self {
        Self {
            kind: StrategyKind::Probabilistic(p),
            operations: None,
        }
    }
}

/// Every service's strategy and the default, as served.
#[derive(Debug, Clone)]
pub struct Strategies {
    pub default: Arc<StrategyResponse>,
    pub services: HashMap<String, Arc<StrategyResponse>>,
    /// Services whose file entry says `type: adaptive`.
    pub adaptive: Vec<String>,
    /// Their own targets (the entry's `max_traces_per_second`), traces per second per operation.
    pub adaptive_targets: HashMap<String, f64>,
    /// `default_strategy` says `type: adaptive`: services the file does not name adapt, with
    /// this target when the entry gives one.
    pub adaptive_default: Option<Option<f64>>,
}

impl Strategies {
    /// No file: every service gets the default probability.
    pub fn defaults(default_probability: f64) -> Self {
        Self {
            default: Arc::new(StrategyResponse::probabilistic(default_probability)),
            services: HashMap::new(),
            adaptive: Vec::new(),
            adaptive_targets: HashMap::new(),
            adaptive_default: None,
        }
    }

    pub fn for_service(&self, service: &str) -> Arc<StrategyResponse> {
        self.services
            .get(service)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileRoot {
    Wrapped { sampling: FileStrategies },
    Plain(FileStrategies),
}

#[derive(Debug, Deserialize)]
struct FileStrategies {
    #[serde(default)]
    default_strategy: Option<FileStrategy>,
    #[serde(default, alias = "per_service_strategies")]
    service_strategies: Vec<FileStrategy>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct FileStrategy {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    param: Option<f64>,
    #[serde(default)]
    max_traces_per_second: Option<f64>,
    #[serde(default)]
    operation_strategies: Vec<FileStrategy>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

/// A parsed file: the strategies and what was accepted but means nothing to Spoor.
#[derive(Debug)]
pub struct Parsed {
    pub strategies: Strategies,
    pub warnings: Vec<String>,
}

/// Parses a strategies file (JSON, or YAML of the same shape).
pub fn parse(text: &str, default_probability: f64) -> Result<Parsed, StrategiesError> {
    let root: FileRoot = if text.trim_start().starts_with(['{', '[', '"']) {
        serde_json::from_str(text).map_err(|e| StrategiesError::Parse(e.to_string()))?
    } else {
        serde_saphyr_free_yaml(text)?
    };
    let file = match root {
        FileRoot::Wrapped { sampling } => sampling,
        FileRoot::Plain(file) => file,
    };
    let mut parser = Parser {
        default_probability,
        warnings: Vec::new(),
        adaptive: Vec::new(),
    };
    for key in file.unknown.keys() {
        parser.warn(format!("{key}: not a sampling strategies key; ignored"));
    }
    let mut default = StrategyResponse::probabilistic(default_probability);
    if let Some(d) = &file.default_strategy {
        default = parser.service("default_strategy", d)?;
    }
    let mut adaptive_default = None;
    if let Some(d) = file.default_strategy.as_ref()
        && d.kind.as_deref() == Some("adaptive")
    {
        adaptive_default = Some(adaptive_target("default_strategy", d)?);
    }
    let mut adaptive_targets = HashMap::new();
    let mut services = HashMap::new();
    for (i, s) in file.service_strategies.iter().enumerate() {
        let at = format!("service_strategies[{i}]");
        let Some(name) = s.service.clone().filter(|n| !n.is_empty()) else {
            return Err(invalid(&at, "has no `service` name"));
        };
        let mut resp = parser.service(&at, s)?;
        if s.kind.as_deref() == Some("adaptive") {
            parser.adaptive.push(name.clone());
            if let Some(t) = adaptive_target(&at, s)? {
                adaptive_targets.insert(name.clone(), t);
            }
        }
        if let Some(default_ops) = &default.operations {
            match &mut resp.operations {
                None => {
                    let mut ops = default_ops.clone();
                    if let StrategyKind::Probabilistic(p) = resp.kind {
                        ops.default_probability = p;
                    }
                    resp.operations = Some(ops);
                }
                Some(own) => {
                    for (op, p) in &default_ops.per_operation {
                        if !own.per_operation.iter().any(|(o, _)| o == op) {
                            own.per_operation.push((op.clone(), *p));
                        }
                    }
                }
            }
        }
        if services.insert(name.clone(), Arc::new(resp)).is_some() {
            parser.warn(format!(
                "{at}: service {name:?} appears twice; the last entry wins"
            ));
        }
    }
    Ok(Parsed {
        strategies: Strategies {
            default: Arc::new(default),
            services,
            adaptive: parser.adaptive,
            adaptive_targets,
            adaptive_default,
        },
        warnings: parser.warnings,
    })
}

fn serde_saphyr_free_yaml(text: &str) -> Result<FileRoot, StrategiesError> {
    // YAML is read into a JSON value first so the same serde shape (and its flattened unknown
    // keys) applies to both spellings of the file.
    let value: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| StrategiesError::Parse(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| StrategiesError::Parse(e.to_string()))
}

/// An adaptive entry's `max_traces_per_second`: the target of each of its operations.
fn adaptive_target(at: &str, s: &FileStrategy) -> Result<Option<f64>, StrategiesError> {
    match s.max_traces_per_second {
        Some(t) if !t.is_finite() || t <= 0.0 => Err(invalid(
            at,
            format!("adaptive target {t} traces/s is not a rate above 0"),
        )),
        other => Ok(other),
    }
}

fn invalid(at: &str, what: impl Into<String>) -> StrategiesError {
    StrategiesError::Invalid {
        at: at.to_string(),
        what: what.into(),
    }
}

struct Parser {
    default_probability: f64,
    warnings: Vec<String>,
    adaptive: Vec<String>,
}

impl Parser {
    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    fn service(&mut self, at: &str, s: &FileStrategy) -> Result<StrategyResponse, StrategiesError> {
        for key in s.unknown.keys() {
            self.warn(format!("{at}.{key}: not a sampling strategy key; ignored"));
        }
        let mut resp = StrategyResponse {
            kind: self.kind(at, s)?,
            operations: None,
        };
        if s.operation_strategies.is_empty() {
            return Ok(resp);
        }
        let mut ops = OperationSampling {
            default_probability: self.default_probability,
            default_lower_bound_traces_per_second: 0.0,
            default_upper_bound_traces_per_second: 0.0,
            per_operation: Vec::new(),
        };
        if let StrategyKind::Probabilistic(p) = resp.kind {
            ops.default_probability = p;
        }
        for (i, o) in s.operation_strategies.iter().enumerate() {
            let at = format!("{at}.operation_strategies[{i}]");
            for key in o.unknown.keys() {
                self.warn(format!(
                    "{at}.{key}: not an operation strategy key; ignored"
                ));
            }
            let Some(name) = o.operation.clone() else {
                return Err(invalid(&at, "has no `operation` name"));
            };
            match self.kind(&at, o)? {
                StrategyKind::Probabilistic(p) => ops.per_operation.push((name, p)),
                StrategyKind::RateLimiting(_) => self.warn(format!(
                    "{at}: operation strategies can only be probabilistic (clients take no per-operation rate limit); {name:?} uses the service's default probability {}",
                    ops.default_probability
                )),
            }
        }
        resp.operations = Some(ops);
        Ok(resp)
    }

    fn kind(&mut self, at: &str, s: &FileStrategy) -> Result<StrategyKind, StrategiesError> {
        match s.kind.as_deref() {
            Some("probabilistic") => {
                let p = s.param.unwrap_or(0.0);
                if !(0.0..=1.0).contains(&p) {
                    return Err(invalid(at, format!("probability {p} is outside 0..=1")));
                }
                if s.max_traces_per_second.is_some() {
                    self.warn(format!(
                        "{at}.max_traces_per_second: a probabilistic strategy has no rate limit; ignored (use type ratelimiting)"
                    ));
                }
                Ok(StrategyKind::Probabilistic(p))
            }
            Some("ratelimiting" | "rate_limiting") => {
                let rate = s.param.or(s.max_traces_per_second).unwrap_or(0.0);
                if !rate.is_finite() || !(0.0..=f64::from(i32::MAX)).contains(&rate) {
                    return Err(invalid(
                        at,
                        format!("rate {rate} traces/s is not a valid rate"),
                    ));
                }
                // Jaeger's clients take whole traces per second.
                Ok(StrategyKind::RateLimiting(rate as i32))
            }
            Some("adaptive") => {
                // Served as the default probability until the adaptive calculator has observed
                // throughput; the service is listed in `Strategies::adaptive`.
                Ok(StrategyKind::Probabilistic(
                    s.param.unwrap_or(self.default_probability),
                ))
            }
            other => {
                self.warn(format!(
                    "{at}: strategy type {} is not probabilistic or ratelimiting; using the default probability {}",
                    other.map_or("(missing)".to_string(), |t| format!("{t:?}")),
                    self.default_probability
                ));
                Ok(StrategyKind::Probabilistic(self.default_probability))
            }
        }
    }
}

/// The JSON Jaeger's HTTP sampling endpoint answers (`/sampling?service=`), which its clients
/// (jaeger-client, OTel's jaeger remote samplers) parse.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonResponse<'a> {
    strategy_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilistic_sampling: Option<JsonProbability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limiting_sampling: Option<JsonRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_sampling: Option<JsonOperations<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonProbability {
    sampling_rate: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRate {
    max_traces_per_second: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOperations<'a> {
    default_sampling_probability: f64,
    default_lower_bound_traces_per_second: f64,
    per_operation_strategies: Vec<JsonOperation<'a>>,
    default_upper_bound_traces_per_second: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOperation<'a> {
    operation: &'a str,
    probabilistic_sampling: JsonProbability,
}

impl StrategyResponse {
    /// Jaeger's JSON for this response.
    pub fn to_json(&self) -> String {
        let (strategy_type, probabilistic_sampling, rate_limiting_sampling) = match self.kind {
            StrategyKind::Probabilistic(p) => (
                "PROBABILISTIC",
                Some(JsonProbability { sampling_rate: p }),
                None,
            ),
            StrategyKind::RateLimiting(r) => (
                "RATE_LIMITING",
                None,
                Some(JsonRate {
                    max_traces_per_second: r,
                }),
            ),
        };
        let body = JsonResponse {
            strategy_type,
            probabilistic_sampling,
            rate_limiting_sampling,
            operation_sampling: self.operations.as_ref().map(|o| JsonOperations {
                default_sampling_probability: o.default_probability,
                default_lower_bound_traces_per_second: o.default_lower_bound_traces_per_second,
                per_operation_strategies: o
                    .per_operation
                    .iter()
                    .map(|(op, p)| JsonOperation {
                        operation: op,
                        probabilistic_sampling: JsonProbability { sampling_rate: *p },
                    })
                    .collect(),
                default_upper_bound_traces_per_second: o.default_upper_bound_traces_per_second,
            }),
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}
