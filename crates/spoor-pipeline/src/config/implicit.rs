//! The config the flags describe when no `--config` is given: every receiver whose listener is
//! on feeds one `traces` pipeline whose exporter is the embedded store.

use std::net::SocketAddr;

use serde_json::{Map, Value as Json, json};

use super::tree::{Node, Pos, Value};
use super::{Config, Diagnostics, validate};

/// `listeners`: (listener name, address) for each listener flag that is not `off`; names as
/// logged: `otlp-grpc`, `otlp-http`, `jaeger-grpc`, `jaeger-thrift-http`,
/// `jaeger-thrift-compact`, `jaeger-thrift-binary`, `zipkin`.
pub fn implicit(listeners: &[(&str, SocketAddr)]) -> Result<Config, Diagnostics> {
    let mut otlp = Map::new();
    let mut jaeger = Map::new();
    let mut receivers = Map::new();
    for (name, addr) in listeners {
        let endpoint = json!({ "endpoint": addr.to_string() });
        match *name {
            "otlp-grpc" => drop(otlp.insert("grpc".into(), endpoint)),
            "otlp-http" => drop(otlp.insert("http".into(), endpoint)),
            "jaeger-grpc" => drop(jaeger.insert("grpc".into(), endpoint)),
            "jaeger-thrift-http" => drop(jaeger.insert("thrift_http".into(), endpoint)),
            "jaeger-thrift-compact" => drop(jaeger.insert("thrift_compact".into(), endpoint)),
            "jaeger-thrift-binary" => drop(jaeger.insert("thrift_binary".into(), endpoint)),
            "zipkin" => drop(receivers.insert("zipkin".into(), endpoint)),
            _ => {}
        }
    }
    if !otlp.is_empty() {
        receivers.insert("otlp".into(), json!({ "protocols": otlp }));
    }
    if !jaeger.is_empty() {
        receivers.insert("jaeger".into(), json!({ "protocols": jaeger }));
    }
    let names: Vec<String> = ["otlp", "jaeger", "zipkin"]
        .iter()
        .filter(|n| receivers.contains_key(**n))
        .map(|n| n.to_string())
        .collect();
    let mut root = json!({
        "receivers": receivers,
        "exporters": { "spoor": {} },
        "service": { "pipelines": {} },
    });
    if !names.is_empty() {
        root["service"]["pipelines"]["traces"] =
            json!({ "receivers": names, "exporters": ["spoor"] });
    }
    let mut config = validate(&from_json(&root), Diagnostics::default())?;
    // No receiver at all is a valid (if quiet) all-in-one: the query side still runs.
    config
        .warnings
        .retain(|w| !w.path.starts_with("exporters.spoor"));
    Ok(config)
}

fn from_json(v: &Json) -> Node {
    let value = match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_u64()
            .map(Value::UInt)
            .or(n.as_i64().map(Value::Int))
            .unwrap_or(Value::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Seq(items.iter().map(from_json).collect()),
        Json::Object(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    };
    Node {
        value,
        pos: Pos {
            file: "(flags)".to_string(),
            line: 0,
        },
    }
}
