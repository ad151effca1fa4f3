//! Building and reading OTLP attributes.

use crate::otlp_common::{AnyValue, KeyValue, any_value::Value};

/// A string attribute.
pub fn string(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// An integer attribute.
pub fn int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A floating-point attribute.
pub fn double(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// A boolean attribute.
pub fn bool(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// A bytes attribute.
pub fn bytes(key: &str, value: Vec<u8>) -> KeyValue {
    kv(key, Value::BytesValue(value))
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Finds an attribute by key.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Finds a string attribute by key.
pub fn find_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match find(attrs, key)?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The value as Jaeger renders it in a string context (tag search, string tags): strings as-is,
/// numbers and booleans in their usual text form, bytes as base64 (as Jaeger does), and
/// arrays/maps as JSON.
pub fn value_to_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_double(*d),
        Some(Value::BytesValue(b)) => base64_encode(b),
        Some(other) => value_to_json(other),
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'g', -1, 64)` would for common values:
/// shortest round-trip representation, no trailing `.0`.
pub fn format_double(d: f64) -> String {
    if d.is_finite() && d == d.trunc() && d.abs() < 1e21 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}

fn value_to_json(value: &Value) -> String {
    fn to_json(value: Option<&Value>) -> String {
        match value {
            None => "null".to_string(),
            Some(Value::StringValue(s)) => json_string(s),
            Some(Value::BoolValue(b)) => b.to_string(),
            Some(Value::IntValue(i)) => i.to_string(),
            Some(Value::DoubleValue(d)) => format_double(*d),
            Some(Value::BytesValue(b)) => json_string(&base64_encode(b)),
            // Only meaningful in the profiling signal; rendered as its index.
            Some(Value::StringValueStrindex(i)) => i.to_string(),
            Some(Value::ArrayValue(arr)) => {
                let items: Vec<String> = arr
                    .values
                    .iter()
                    .map(|v| to_json(v.value.as_ref()))
                    .collect();
                format!("[{}]", items.join(","))
            }
            Some(Value::KvlistValue(kvs)) => {
                let items: Vec<String> = kvs
                    .values
                    .iter()
                    .map(|kv| {
                        format!(
                            "{}:{}",
                            json_string(&kv.key),
                            to_json(kv.value.as_ref().and_then(|v| v.value.as_ref()))
                        )
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }
    to_json(Some(value))
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_as_strings() {
        assert_eq!(value_to_string(int("a", 42).value.as_ref()), "42");
        assert_eq!(value_to_string(double("a", 72.5).value.as_ref()), "72.5");
        assert_eq!(value_to_string(double("a", 3.0).value.as_ref()), "3");
        assert_eq!(value_to_string(bool("a", true).value.as_ref()), "true");
        assert_eq!(
            value_to_string(bytes("a", b"hi!".to_vec()).value.as_ref()),
            "aGkh"
        );
        assert_eq!(base64_encode(b"h"), "aA==");
        assert_eq!(value_to_string(None), "");
    }
}
