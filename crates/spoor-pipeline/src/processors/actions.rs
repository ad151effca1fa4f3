//! The attribute actions shared by the `attributes` and `resource` processors (the Collector's
//! `attraction` package): insert, update, upsert, delete, hash, extract, convert.
//!
//! - `insert` sets `key` when it is absent; `update` when present; `upsert` either way. The
//!   value comes from exactly one of `value`, `from_attribute` or `from_context`; a missing
//!   source attribute means no change.
//! - `delete` and `hash` act on `key` and on every key matching `pattern`; `hash` replaces the
//!   value by the lower-case hex SHA-256 of its bytes (strings as UTF-8, ints and doubles as 8
//!   little-endian bytes, booleans as one byte), as the Collector does since v0.75.
//! - `extract` matches `pattern` (named groups only) against the string value of `key` and
//!   upserts one string attribute per group.
//! - `convert` changes the type of `key` to `converted_type` (`int`, `double`, `string`); a value
//!   that does not parse is left as it is.
//! - `from_context` reads request metadata, which Spoor does not hand to processors yet: such an
//!   action finds no value and changes nothing.

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};

use super::common::{self, ConfigValue};
use crate::ConfigError;

/// One entry of `actions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<ConfigValue>,
    #[serde(default)]
    pub from_attribute: Option<String>,
    #[serde(default)]
    pub from_context: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub converted_type: Option<String>,
    pub action: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convert {
    Int,
    Double,
    String,
}

enum Source {
    Value(AnyValue),
    Attribute(String),
    Context,
}

enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete(Option<Regex>),
    Hash(Option<Regex>),
    Extract(Regex, Vec<String>),
    Convert(Convert),
}

struct Action {
    key: String,
    op: Op,
}

/// A validated list of actions.
pub struct Actions(Vec<Action>);

impl Actions {
    /// Validates every action; `path` is the list's option path (`actions` or `attributes`).
    pub fn build(path: &str, configs: &[ActionConfig]) -> Result<Self, ConfigError> {
        if configs.is_empty() {
            return Err(ConfigError::new(path, "at least one action is required"));
        }
        configs
            .iter()
            .enumerate()
            .map(|(i, c)| build_one(&format!("{path}[{i}]"), c))
            .collect::<Result<_, _>>()
            .map(Actions)
    }

    /// Applies every action in order to one attribute map.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for a in &self.0 {
            a.apply(attrs);
        }
    }
}

fn build_one(p: &str, c: &ActionConfig) -> Result<Action, ConfigError> {
    let err = |field: &str, msg: String| Err(ConfigError::new(format!("{p}.{field}"), msg));
    let action = c.action.to_ascii_lowercase();
    let sources = usize::from(c.value.is_some())
        + usize::from(c.from_attribute.as_deref().is_some_and(|s| !s.is_empty()))
        + usize::from(c.from_context.as_deref().is_some_and(|s| !s.is_empty()));
    let pattern = c.pattern.as_deref().filter(|s| !s.is_empty());
    let converted = c.converted_type.as_deref().filter(|s| !s.is_empty());
    let needs_key = !matches!(action.as_str(), "delete" | "hash");
    if needs_key && c.key.is_empty() {
        return err("key", format!("required for action {action}"));
    }
    if !needs_key && c.key.is_empty() && pattern.is_none() {
        return err("key", format!("action {action} needs key or pattern"));
    }
    if converted.is_some() && action != "convert" {
        return err("converted_type", format!("not used by action {action}"));
    }
    let source = || -> Result<Source, ConfigError> {
        if sources == 0 {
            return Err(ConfigError::new(
                p,
                format!("action {action} needs one of value, from_attribute or from_context"),
            ));
        }
        if sources > 1 {
            return Err(ConfigError::new(
                p,
                "only one of value, from_attribute or from_context may be set",
            ));
        }
        if pattern.is_some() {
            return Err(ConfigError::new(
                format!("{p}.pattern"),
                format!("not used by action {action}"),
            ));
        }
        Ok(match (&c.value, &c.from_attribute) {
            (Some(v), _) => Source::Value(v.to_any()),
            (None, Some(a)) if !a.is_empty() => Source::Attribute(a.clone()),
            _ => Source::Context,
        })
    };
    let key_pattern = || -> Result<Option<Regex>, ConfigError> {
        if c.value.is_some() || c.from_attribute.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(ConfigError::new(
                p,
                format!("action {action} does not use value or from_attribute"),
            ));
        }
        pattern
            .map(|s| common::compile(&format!("{p}.pattern"), s))
            .transpose()
    };
    let op = match action.as_str() {
        "insert" => Op::Insert(source()?),
        "update" => Op::Update(source()?),
        "upsert" => Op::Upsert(source()?),
        "delete" => Op::Delete(key_pattern()?),
        "hash" => Op::Hash(key_pattern()?),
        "extract" => {
            if sources > 0 {
                return err("value", "action extract uses no value source".into());
            }
            let Some(pat) = pattern else {
                return err("pattern", "required for action extract".into());
            };
            let re = common::compile(&format!("{p}.pattern"), pat)?;
            let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
            if names.is_empty() {
                return err("pattern", "contains no named groups".into());
            }
            if names.iter().any(Option::is_none) {
                return err(
                    "pattern",
                    "contains an unnamed group; every group must be named".into(),
                );
            }
            let names = names.into_iter().flatten().map(str::to_string).collect();
            Op::Extract(re, names)
        }
        "convert" => {
            if sources > 0 || pattern.is_some() {
                return Err(ConfigError::new(
                    p,
                    "action convert uses no value source and no pattern",
                ));
            }
            Op::Convert(match converted {
                Some("int") => Convert::Int,
                Some("double") => Convert::Double,
                Some("string") => Convert::String,
                Some(other) => {
                    return err(
                        "converted_type",
                        format!("invalid value {other:?}: expected int, double or string"),
                    );
                }
                None => return err("converted_type", "required for action convert".into()),
            })
        }
        other => {
            return err(
                "action",
                format!(
                    "unsupported action {other:?}: expected insert, update, upsert, delete, hash, extract or convert"
                ),
            );
        }
    };
    Ok(Action {
        key: c.key.clone(),
        op,
    })
}

impl Action {
    fn apply(&self, attrs: &mut Vec<KeyValue>) {
        let source = |attrs: &Vec<KeyValue>, s: &Source| -> Option<AnyValue> {
            match s {
                Source::Value(v) => Some(v.clone()),
                Source::Attribute(k) => common::get(attrs, k).cloned(),
                Source::Context => None,
            }
        };
        match &self.op {
            Op::Insert(s) => {
                if let Some(v) = source(attrs, s)
                    && !common::has(attrs, &self.key)
                {
                    common::put(attrs, &self.key, v);
                }
            }
            Op::Update(s) => {
                if let Some(v) = source(attrs, s)
                    && let Some(slot) = common::get_mut(attrs, &self.key)
                {
                    *slot = v;
                }
            }
            Op::Upsert(s) => {
                if let Some(v) = source(attrs, s) {
                    common::put(attrs, &self.key, v);
                }
            }
            Op::Delete(re) => {
                attrs.retain(|kv| {
                    kv.key != self.key && !re.as_ref().is_some_and(|r| r.is_match(&kv.key))
                });
            }
            Op::Hash(re) => {
                for kv in attrs.iter_mut() {
                    if kv.key == self.key || re.as_ref().is_some_and(|r| r.is_match(&kv.key)) {
                        let v = kv.value.get_or_insert_with(AnyValue::default);
                        *v = common::string(sha256_value(v));
                    }
                }
            }
            Op::Extract(re, names) => {
                let Some(s) = common::get(attrs, &self.key).and_then(common::as_str) else {
                    return;
                };
                let Some(caps) = re.captures(s) else {
                    return;
                };
                let found: Vec<(String, String)> = names
                    .iter()
                    .map(|n| {
                        let v = caps.name(n).map(|m| m.as_str()).unwrap_or_default();
                        (n.clone(), v.to_string())
                    })
                    .collect();
                for (k, v) in found {
                    common::put_str(attrs, &k, v);
                }
            }
            Op::Convert(to) => {
                if let Some(v) = common::get_mut(attrs, &self.key) {
                    convert(v, *to);
                }
            }
        }
    }
}

/// The Collector's hash of a value: SHA-256 over its bytes, in lower-case hex; empty for values
/// without a scalar form.
pub fn sha256_value(v: &AnyValue) -> String {
    let bytes: Vec<u8> = match &v.value {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    if bytes.is_empty() {
        return String::new();
    }
    common::hex(&sha2::Sha256::digest(&bytes))
}

fn convert(v: &mut AnyValue, to: Convert) {
    let new = match (to, &v.value) {
        (Convert::String, Some(Value::StringValue(_))) => None,
        (Convert::String, _) => Some(Value::StringValue(common::as_string(v))),
        (Convert::Int, Some(Value::DoubleValue(d))) => Some(Value::IntValue(*d as i64)),
        (Convert::Int, Some(Value::BoolValue(b))) => Some(Value::IntValue(i64::from(*b))),
        (Convert::Int, Some(Value::StringValue(s))) => s.parse::<i64>().ok().map(Value::IntValue),
        (Convert::Double, Some(Value::IntValue(i))) => Some(Value::DoubleValue(*i as f64)),
        (Convert::Double, Some(Value::BoolValue(b))) => {
            Some(Value::DoubleValue(if *b { 1.0 } else { 0.0 }))
        }
        (Convert::Double, Some(Value::StringValue(s))) => parse_go_float(s).map(Value::DoubleValue),
        _ => None,
    };
    if let Some(n) = new {
        v.value = Some(n);
    }
}

/// Parses a float as Go's `strconv.ParseFloat` accepts the common forms (including `Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => s.parse().ok(),
        t if t.chars().all(|c| c.is_ascii_alphabetic()) => None,
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
