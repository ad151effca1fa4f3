//! The `redaction` processor: removes attributes whose keys are not allowed and masks values
//! that match blocked patterns, on resource, scope, span and span-event attributes, with the
//! Collector's options and order of checks.
//!
//! For each attribute: a key in `ignored_keys` (or matching `ignored_key_patterns`) is left
//! alone; a key not in `allowed_keys` is removed unless `allow_all_keys`; a value matching
//! `allowed_values` is kept; a key matching `blocked_key_patterns` has its whole value masked;
//! otherwise each part of the value matching `blocked_values` is masked. Masks are `****`, or
//! the hex digest of the matched text with `hash_function` (`md5`, `sha1`, `sha3` = SHA3-256).
//! Only string values are inspected unless `redact_all_types` is set. `summary: debug` adds
//! `redaction.{redacted,masked,allowed}.keys` and the matching `.count` attributes plus
//! `redaction.ignored.count`; `info` adds only the counts; `silent` (the default) adds nothing.
//! As in the Collector, resource and scope attributes go through the same rules, so without
//! `allow_all_keys` a resource's `service.name` must be in `allowed_keys` (or `ignored_keys`)
//! to survive.
//!
//! Spoor extension: `builtin_patterns` switches on patterns shipped with Spoor, applied after
//! `blocked_values` and masked the same way (a config using it is not accepted by the
//! Collector):
//! - `card_number`: 13–19 digit card numbers (spaces or dashes allowed) that pass the Luhn check;
//! - `email`: e-mail addresses;
//! - `bearer_token`: the token after `Bearer ` (the word is kept);
//! - `sql_literals`: string and numeric literals in `db.statement` / `db.query.text`, replaced by `?`.
//!
//! ```yaml
//! processors:
//!   redaction:
//!     allow_all_keys: true
//!     blocked_values: ['4[0-9]{12}(?:[0-9]{3})?']
//!     builtin_patterns: [card_number, email, bearer_token, sql_literals]
//!     summary: debug
//! ```
//!
//! Not implemented: `url_sanitizer`, `db_sanitizer`, HMAC hash functions (refused by name).

use std::collections::HashSet;
use std::sync::LazyLock;

use md5::Md5;
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Digest;
use sha3::Sha3_256;
use spoor_model::ResourceSpans;
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};

use super::common;
use crate::{ConfigError, ProcessError, SpanProcessor};

/// A card number candidate: 13 to 19 digits, optionally grouped by spaces or dashes.
pub const CARD_NUMBER_PATTERN: &str = r"\b\d(?:[ -]?\d){12,18}\b";
/// An e-mail address.
pub const EMAIL_PATTERN: &str =
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";
/// A bearer token (group `token` is what gets masked).
pub const BEARER_TOKEN_PATTERN: &str = r"(?i)\bbearer\s+(?P<token>[A-Za-z0-9\-._~+/]+=*)";
/// SQL string literals (with `''` escapes) and numeric literals outside identifiers.
pub const SQL_LITERAL_PATTERN: &str = r"'(?:[^']|'')*'|\b[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\b";
/// The attributes `sql_literals` applies to.
pub const SQL_STATEMENT_KEYS: [&str; 2] = ["db.statement", "db.query.text"];

static CARD_NUMBER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(CARD_NUMBER_PATTERN).ok());
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(EMAIL_PATTERN).ok());
static BEARER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(BEARER_TOKEN_PATTERN).ok());
static SQL_LITERAL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(SQL_LITERAL_PATTERN).ok());

/// Options of the `redaction` processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    #[serde(default)]
    pub allow_all_keys: bool,
    #[serde(default)]
    pub allowed_keys: Vec<String>,
    #[serde(default)]
    pub ignored_keys: Vec<String>,
    #[serde(default)]
    pub ignored_key_patterns: Vec<String>,
    #[serde(default)]
    pub blocked_key_patterns: Vec<String>,
    #[serde(default)]
    pub blocked_values: Vec<String>,
    #[serde(default)]
    pub allowed_values: Vec<String>,
    #[serde(default)]
    pub redact_all_types: bool,
    #[serde(default)]
    pub hash_function: String,
    #[serde(default)]
    pub summary: String,
    /// Spoor extension: names of built-in patterns (`card_number`, `email`, `bearer_token`,
    /// `sql_literals`).
    #[serde(default)]
    pub builtin_patterns: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    None,
    Md5,
    Sha1,
    Sha3,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Summary {
    Silent,
    Info,
    Debug,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Builtin {
    CardNumber,
    Email,
    BearerToken,
    SqlLiterals,
}

const SUMMARY_KEYS: [&str; 7] = [
    "redaction.redacted.keys",
    "redaction.redacted.count",
    "redaction.masked.keys",
    "redaction.masked.count",
    "redaction.allowed.keys",
    "redaction.allowed.count",
    "redaction.ignored.count",
];

struct Redaction {
    allow_all: bool,
    allowed: HashSet<String>,
    ignored: HashSet<String>,
    ignored_patterns: Vec<Regex>,
    blocked_keys: Vec<Regex>,
    blocked_values: Vec<Regex>,
    allowed_values: Vec<Regex>,
    redact_all_types: bool,
    hash: Hash,
    summary: Summary,
    builtins: Vec<Builtin>,
    mask_all: Regex,
}

fn compile_list(path: &str, list: &[String]) -> Result<Vec<Regex>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, p)| common::compile(&format!("{path}[{i}]"), p))
        .collect()
}

impl RedactionConfig {
    pub fn build(&self) -> Result<Box<dyn SpanProcessor>, ConfigError> {
        let hash = match self.hash_function.to_ascii_lowercase().as_str() {
            "" => Hash::None,
            "md5" => Hash::Md5,
            "sha1" => Hash::Sha1,
            "sha3" => Hash::Sha3,
            other => {
                return Err(ConfigError::new(
                    "hash_function",
                    format!("unsupported hash function {other:?}: expected md5, sha1 or sha3"),
                ));
            }
        };
        let summary = match self.summary.as_str() {
            "" | "silent" => Summary::Silent,
            "info" => Summary::Info,
            "debug" => Summary::Debug,
            other => {
                return Err(ConfigError::new(
                    "summary",
                    format!("invalid value {other:?}: expected debug, info or silent"),
                ));
            }
        };
        let builtins = self
            .builtin_patterns
            .iter()
            .enumerate()
            .map(|(i, name)| match name.as_str() {
                "card_number" => Ok(Builtin::CardNumber),
                "email" => Ok(Builtin::Email),
                "bearer_token" => Ok(Builtin::BearerToken),
                "sql_literals" => Ok(Builtin::SqlLiterals),
                other => Err(ConfigError::new(
                    format!("builtin_patterns[{i}]"),
                    format!(
                        "unknown pattern {other:?}: expected card_number, email, bearer_token or sql_literals"
                    ),
                )),
            })
            .collect::<Result<_, _>>()?;
        let mut allowed: HashSet<String> = self.allowed_keys.iter().cloned().collect();
        allowed.extend(SUMMARY_KEYS.iter().map(|k| k.to_string()));
        Ok(Box::new(Redaction {
            allow_all: self.allow_all_keys,
            allowed,
            ignored: self.ignored_keys.iter().cloned().collect(),
            ignored_patterns: compile_list("ignored_key_patterns", &self.ignored_key_patterns)?,
            blocked_keys: compile_list("blocked_key_patterns", &self.blocked_key_patterns)?,
            blocked_values: compile_list("blocked_values", &self.blocked_values)?,
            allowed_values: compile_list("allowed_values", &self.allowed_values)?,
            redact_all_types: self.redact_all_types,
            hash,
            summary,
            builtins,
            mask_all: common::compile("", ".*")?,
        }))
    }
}

impl Redaction {
    fn mask(&self, matched: &str) -> String {
        match self.hash {
            Hash::None => "****".to_string(),
            Hash::Md5 => common::hex(&Md5::digest(matched.as_bytes())),
            Hash::Sha1 => common::hex(&Sha1::digest(matched.as_bytes())),
            Hash::Sha3 => common::hex(&Sha3_256::digest(matched.as_bytes())),
        }
    }

    fn mask_matches(&self, value: &str, re: &Regex) -> String {
        re.replace_all(value, |c: &regex::Captures<'_>| self.mask(&c[0]))
            .into_owned()
    }

    fn apply_builtins(&self, key: &str, mut s: String) -> String {
        for b in &self.builtins {
            // Cheap byte checks skip the regexes for values that cannot match.
            let candidate = match b {
                Builtin::CardNumber => s.bytes().filter(u8::is_ascii_digit).count() >= 13,
                Builtin::Email => s.contains('@'),
                Builtin::BearerToken => s
                    .as_bytes()
                    .windows(6)
                    .any(|w| w.eq_ignore_ascii_case(b"bearer")),
                Builtin::SqlLiterals => SQL_STATEMENT_KEYS.contains(&key),
            };
            if !candidate {
                continue;
            }
            s = match b {
                Builtin::CardNumber => match CARD_NUMBER.as_ref() {
                    Some(re) => re
                        .replace_all(&s, |c: &regex::Captures<'_>| {
                            if luhn_valid(&c[0]) {
                                self.mask(&c[0])
                            } else {
                                c[0].to_string()
                            }
                        })
                        .into_owned(),
                    None => s,
                },
                Builtin::Email => match EMAIL.as_ref() {
                    Some(re) => self.mask_matches(&s, re),
                    None => s,
                },
                Builtin::BearerToken => match BEARER.as_ref() {
                    Some(re) => re
                        .replace_all(&s, |c: &regex::Captures<'_>| {
                            let whole = &c[0];
                            let token = c.name("token").map(|m| m.as_str()).unwrap_or_default();
                            let prefix = &whole[..whole.len() - token.len()];
                            format!("{prefix}{}", self.mask(token))
                        })
                        .into_owned(),
                    None => s,
                },
                Builtin::SqlLiterals if SQL_STATEMENT_KEYS.contains(&key) => {
                    match SQL_LITERAL.as_ref() {
                        Some(re) => re.replace_all(&s, "?").into_owned(),
                        None => s,
                    }
                }
                Builtin::SqlLiterals => s,
            };
        }
        s
    }

    fn ignored(&self, key: &str) -> bool {
        self.ignored.contains(key) || self.ignored_patterns.iter().any(|r| r.is_match(key))
    }

    fn process_attrs(&self, attrs: &mut Vec<KeyValue>) {
        let mut redacted = Vec::new();
        let mut masked = Vec::new();
        let mut allowed = Vec::new();
        let mut ignored = Vec::new();
        for kv in attrs.iter_mut() {
            let key = kv.key.clone();
            if self.ignored(&key) {
                ignored.push(key);
                continue;
            }
            if !self.allow_all && !self.allowed.contains(&key) {
                redacted.push(key);
                continue;
            }
            let value = kv.value.get_or_insert_with(AnyValue::default);
            let text = match (&value.value, self.redact_all_types) {
                (Some(Value::StringValue(s)), _) => s.clone(),
                (_, true) => common::as_string(value),
                (_, false) => String::new(),
            };
            if self.allowed_values.iter().any(|r| r.is_match(&text)) {
                allowed.push(key);
                continue;
            }
            if self.blocked_keys.iter().any(|r| r.is_match(&key)) {
                *value = common::string(self.mask_matches(&text, &self.mask_all));
                masked.push(key);
                continue;
            }
            let mut out = text.clone();
            for re in &self.blocked_values {
                if re.is_match(&out) {
                    out = self.mask_matches(&out, re);
                }
            }
            out = self.apply_builtins(&key, out);
            if out != text {
                *value = common::string(out);
                masked.push(key);
            }
        }
        attrs.retain(|kv| !redacted.contains(&kv.key));
        self.summarize(
            attrs,
            redacted,
            "redaction.redacted.keys",
            "redaction.redacted.count",
        );
        self.summarize(
            attrs,
            masked,
            "redaction.masked.keys",
            "redaction.masked.count",
        );
        self.summarize(
            attrs,
            allowed,
            "redaction.allowed.keys",
            "redaction.allowed.count",
        );
        self.summarize(attrs, ignored, "", "redaction.ignored.count");
    }

    fn summarize(
        &self,
        attrs: &mut Vec<KeyValue>,
        mut keys: Vec<String>,
        keys_attr: &str,
        count_attr: &str,
    ) {
        if keys.is_empty() || self.summary == Summary::Silent {
            return;
        }
        let mut count = keys.len() as i64;
        if self.summary == Summary::Debug && !keys_attr.is_empty() {
            if let Some(prev) = common::get(attrs, keys_attr).and_then(common::as_str)
                && !prev.is_empty()
            {
                keys.extend(prev.split(',').map(str::to_string));
            }
            keys.sort();
            common::put_str(attrs, keys_attr, keys.join(","));
        }
        if let Some(Value::IntValue(prev)) =
            common::get(attrs, count_attr).and_then(|v| v.value.as_ref())
        {
            count += prev;
        }
        common::put(
            attrs,
            count_attr,
            AnyValue {
                value: Some(Value::IntValue(count)),
            },
        );
    }
}

/// The Luhn checksum over the digits of `s` (separators ignored).
pub fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl SpanProcessor for Redaction {
    fn process(&self, mut batch: Vec<ResourceSpans>) -> Result<Vec<ResourceSpans>, ProcessError> {
        for rs in &mut batch {
            if let Some(r) = rs.resource.as_mut() {
                self.process_attrs(&mut r.attributes);
            }
            for ss in &mut rs.scope_spans {
                if let Some(scope) = ss.scope.as_mut() {
                    self.process_attrs(&mut scope.attributes);
                }
                for span in &mut ss.spans {
                    self.process_attrs(&mut span.attributes);
                    for event in &mut span.events {
                        self.process_attrs(&mut event.attributes);
                    }
                }
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
#[path = "redaction_tests.rs"]
mod tests;
