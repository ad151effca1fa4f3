//! The YAML document as a tree that remembers where each value was written, so that errors found
//! after parsing (an unknown option, an undefined component) still point at a file and line.
//! Files are merged here (later over earlier, maps merged key by key, everything else replaced)
//! and `${env:VAR}` references substituted, before any component sees its options.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a value was written: file and 1-based line (0 when unknown, e.g. implicit config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            pos: Pos::default(),
        }
    }

    pub fn map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[cfg(test)]
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The tree as JSON, for serde into component configs; `null` components become `{}`.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::UInt(u) => serde_json::Value::from(*u),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// The position of the value at a serde path inside this node (`protocols.grpc.endpoint`,
    /// `attributes[0].key`), or of the deepest ancestor found.
    pub fn pos_at(&self, path: &str) -> &Pos {
        let mut node = self;
        for seg in path_segments(path) {
            let next = match (&node.value, seg) {
                (Value::Map(m), Seg::Key(k)) => m.iter().find(|(key, _)| key == k).map(|(_, v)| v),
                (Value::Seq(items), Seg::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        &node.pos
    }

    /// Merges `other` over `self` as the Collector merges config files: maps key by key,
    /// any other value replaced.
    pub fn merge(&mut self, other: Node) {
        match (&mut self.value, other.value) {
            (Value::Map(mine), Value::Map(theirs)) => {
                for (k, v) in theirs {
                    match mine.iter_mut().find(|(key, _)| *key == k) {
                        Some((_, existing)) => existing.merge(v),
                        None => mine.push((k, v)),
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.pos = other.pos;
            }
        }
    }

    /// Substitutes `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` in every string with
    /// `lookup`; a string that is only a reference takes the type its value reads as in YAML
    /// (`${env:PORT}` → an integer). Unset variables without a default become empty strings
    /// and are reported in `missing`.
    pub fn substitute(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
        missing: &mut Vec<(String, Pos)>,
    ) {
        match &mut self.value {
            Value::Str(s) => {
                if !s.contains("${") {
                    return;
                }
                let whole = is_single_reference(s);
                let replaced = expand(s, lookup, &mut |var| missing.push((var, self.pos.clone())));
                self.value = if whole {
                    scalar_from_str(&replaced)
                } else {
                    Value::Str(replaced)
                };
            }
            Value::Seq(items) => items.iter_mut().for_each(|n| n.substitute(lookup, missing)),
            Value::Map(m) => m
                .iter_mut()
                .for_each(|(_, n)| n.substitute(lookup, missing)),
            _ => {}
        }
    }

    fn set_file(&mut self, file: &str) {
        self.pos.file = file.to_string();
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            Value::Map(m) => m.iter_mut().for_each(|(_, n)| n.set_file(file)),
            _ => {}
        }
    }
}

/// A YAML parse failure with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub column: u64,
    pub message: String,
}

/// Parses one YAML document; `file` names it in positions.
pub fn parse(file: &str, text: &str) -> Result<Node, ParseError> {
    if text.trim().is_empty() {
        let mut n = Node::new(Value::Map(Vec::new()));
        n.pos.file = file.to_string();
        return Ok(n);
    }
    match serde_saphyr::from_str::<Spanned<Node>>(text) {
        Ok(spanned) => {
            let mut node = spanned.value;
            node.pos.line = spanned.referenced.line();
            node.set_file(file);
            Ok(node)
        }
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = e.to_string();
            // The first line says what failed; the rest is a source snippet.
            let message = message
                .lines()
                .next()
                .unwrap_or("invalid yaml")
                .trim()
                .to_string();
            Err(ParseError {
                pos: Pos {
                    file: file.to_string(),
                    line,
                },
                column,
                message,
            })
        }
    }
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into segments; keys with dots are not addressable (rare in configs).
fn path_segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

fn is_single_reference(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && s[2..].find('}') == Some(s.len() - 3)
}

/// Reads a substituted scalar the way YAML reads a plain scalar.
fn scalar_from_str(s: &str) -> Value {
    match s {
        "" | "~" | "null" => return Value::Str(String::new()),
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(u) = s.parse::<u64>() {
        return Value::UInt(u);
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Int(i);
    }
    if s.contains('.')
        && let Ok(f) = s.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(s.to_string())
}

fn expand(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    missing: &mut dyn FnMut(String),
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let inner = inner.strip_prefix("env:").unwrap_or(inner);
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v.trim(), Some(d)),
            None => (inner.trim(), None),
        };
        match (lookup(var), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => missing(var.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor).map(Node::new)
    }
}

struct NodeVisitor;

fn spanned(s: Spanned<Node>) -> Node {
    let mut node = s.value;
    node.pos.line = s.referenced.line();
    node
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(spanned(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let value = spanned(map.next_value::<Spanned<Node>>()?);
            if entries.iter().any(|(k, _)| *k == key.0) {
                return Err(de::Error::custom(format!("duplicate key {:?}", key.0)));
            }
            entries.push((key.0, value));
        }
        Ok(Value::Map(entries))
    }
}

/// A map key: strings, and numbers or booleans read as their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(NodeVisitor)? {
            Value::Str(s) => Ok(KeyString(s)),
            Value::Int(i) => Ok(KeyString(i.to_string())),
            Value::UInt(u) => Ok(KeyString(u.to_string())),
            Value::Bool(b) => Ok(KeyString(b.to_string())),
            Value::Null => Ok(KeyString(String::new())),
            _ => Err(de::Error::custom("map keys must be scalars")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_lines_and_merges() {
        let a = parse(
            "a.yaml",
            "processors:\n  batch:\n    timeout: 1s\nexporters:\n  debug:\n",
        )
        .expect("parses");
        assert_eq!(a.pos_at("processors.batch.timeout").line, 3);
        assert!(
            a.get("exporters")
                .and_then(|e| e.get("debug"))
                .is_some_and(Node::is_null)
        );
        let mut merged = a.clone();
        let b =
            parse("b.yaml", "processors:\n  batch:\n    send_batch_size: 10\n").expect("parses");
        merged.merge(b);
        let batch = merged
            .get("processors")
            .and_then(|p| p.get("batch"))
            .expect("batch");
        assert_eq!(
            batch.to_json(),
            serde_json::json!({"timeout": "1s", "send_batch_size": 10})
        );
        assert_eq!(
            merged.pos_at("processors.batch.send_batch_size").file,
            "b.yaml"
        );
    }

    #[test]
    fn sequences_have_lines() {
        let n = parse("c", "a:\n  - key: x\n  - key: y\n").expect("parses");
        assert_eq!(n.pos_at("a[1].key").line, 3);
    }

    #[test]
    fn substitutes_environment_references() {
        let mut n = parse(
            "c",
            "a: ${env:PORT}\nb: ${HOST}:${env:PORT}\nc: ${env:NOPE:-fallback}\nd: ${env:NOPE}\n",
        )
        .expect("parses");
        let lookup = |v: &str| match v {
            "PORT" => Some("4317".to_string()),
            "HOST" => Some("example".to_string()),
            _ => None,
        };
        let mut missing = Vec::new();
        n.substitute(&lookup, &mut missing);
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": 4317, "b": "example:4317", "c": "fallback", "d": ""})
        );
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, "NOPE");
        assert_eq!(missing[0].1.line, 4);
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let e = parse("bad.yaml", "receivers:\n  otlp: [\n").expect_err("malformed");
        assert!(e.pos.line >= 2, "{e:?}");
    }
}
