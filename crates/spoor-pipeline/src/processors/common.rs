//! Helpers shared by the processors: attribute maps, scalar config values, regex compilation
//! with the option path in the error.

use regex::Regex;
use serde::{Deserialize, Serialize};
use spoor_model::attr;
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value::Value};

use crate::ConfigError;

/// A scalar written in the config (`value: 42`, `value: "x"`), typed as YAML types it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConfigValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
}

impl ConfigValue {
    /// The OTLP value this config value stands for.
    pub fn to_any(&self) -> AnyValue {
        let v = match self {
            ConfigValue::Bool(b) => Value::BoolValue(*b),
            ConfigValue::Int(i) => Value::IntValue(*i),
            ConfigValue::Double(d) => Value::DoubleValue(*d),
            ConfigValue::String(s) => Value::StringValue(s.clone()),
        };
        AnyValue { value: Some(v) }
    }
}

/// Compiles a regex, naming the option in the error.
pub fn compile(path: &str, pattern: &str) -> Result<Regex, ConfigError> {
    Regex::new(pattern)
        .map_err(|e| ConfigError::new(path, format!("invalid regex {pattern:?}: {}", one_line(&e))))
}

fn one_line(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The attribute's value, if the key is present.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Whether the key is present (with or without a value).
pub fn has(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|kv| kv.key == key)
}

/// Mutable access to an attribute's value, creating an empty value for a present key without one.
pub fn get_mut<'a>(attrs: &'a mut [KeyValue], key: &str) -> Option<&'a mut AnyValue> {
    attrs
        .iter_mut()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.get_or_insert_with(AnyValue::default))
}

/// Sets an attribute, replacing the value in place if the key exists (order kept), else appending.
pub fn put(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(value),
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(value),
            ..Default::default()
        }),
    }
}

/// Sets a string attribute.
pub fn put_str(attrs: &mut Vec<KeyValue>, key: &str, value: impl Into<String>) {
    put(attrs, key, string(value));
}

/// Removes an attribute; true if it was present.
pub fn remove(attrs: &mut Vec<KeyValue>, key: &str) -> bool {
    let before = attrs.len();
    attrs.retain(|kv| kv.key != key);
    attrs.len() != before
}

/// A string value.
pub fn string(value: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(value.into())),
    }
}

/// The value in its string form, as the Collector's `Value.AsString` renders it.
pub fn as_string(value: &AnyValue) -> String {
    attr::value_to_string(Some(value))
}

/// The string inside a string value.
pub fn as_str(value: &AnyValue) -> Option<&str> {
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
pub mod test_support {
    //! Builders for test batches.
    use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ResourceSpans, ScopeSpans, Span, attr};

    pub fn span(name: &str, attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.to_string(),
            attributes: attrs,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 5_000,
            ..Default::default()
        }
    }

    pub fn batch(service: &str, spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr::string("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }]
    }

    pub fn spans(batch: &[ResourceSpans]) -> Vec<&Span> {
        batch
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .collect()
    }

    pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }
}
