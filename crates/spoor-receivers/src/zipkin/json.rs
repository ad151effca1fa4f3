//! Zipkin JSON: v2 (`POST /api/v2/spans`, a list of spans) and v1 (`POST /api/v1/spans`, a list
//! of spans with annotations and binary annotations), decoded into the v2 model.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use super::model::{Annotation, Endpoint, ZipkinKind, ZipkinSpan};

/// Why a Zipkin payload could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZipkinError {
    #[error("invalid json: {0}")]
    Json(String),
    #[error("invalid protobuf: {0}")]
    Proto(String),
    #[error("invalid thrift: {0}")]
    Thrift(String),
    #[error("span {index}: invalid {field} {value:?}")]
    Id {
        index: usize,
        field: &'static str,
        value: String,
    },
}

/// A JSON string or a scalar other clients send where Zipkin expects a string.
enum Scalar {
    Str(String),
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Null,
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Uint(u) => u.to_string(),
            Scalar::Float(f) => spoor_model::attr::format_double(f),
            Scalar::Null => String::new(),
        }
    }
}

/// A hand-written visitor: `#[serde(untagged)]` buffers every value first, which made tag
/// parsing the slowest part of Zipkin JSON decoding.
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Uint(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V)
    }
}

/// Microseconds, sent as an integer (or, by some clients, a float or a numeric string).
#[derive(Default, Clone, Copy)]
struct Micros(u64);

impl Micros {
    fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Micros;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("microseconds")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Micros, E> {
                Ok(Micros(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Micros, E> {
                Ok(Micros(v.max(0) as u64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Micros, E> {
                Ok(Micros(if v.is_finite() && v > 0.0 {
                    v as u64
                } else {
                    0
                }))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Micros, E> {
                v.trim()
                    .parse::<u64>()
                    .map(Micros)
                    .map_err(|_| E::custom(format!("invalid microseconds {v:?}")))
            }
            fn visit_unit<E>(self) -> Result<Micros, E> {
                Ok(Micros(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object's entries in document order (tags keep the order the client wrote).
#[derive(Default)]
struct OrderedTags(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedTags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedTags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of tags")
            }
            fn visit_unit<E>(self) -> Result<OrderedTags, E> {
                Ok(OrderedTags::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedTags, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<String, Scalar>()? {
                    out.push((k, v.into_string()));
                }
                Ok(OrderedTags(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JsonEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<i64>,
}

impl JsonEndpoint {
    fn into_endpoint(self) -> Endpoint {
        Endpoint {
            service_name: self.service_name.unwrap_or_default(),
            ipv4: self.ipv4.and_then(|s| s.parse::<Ipv4Addr>().ok()),
            ipv6: self.ipv6.and_then(|s| s.parse::<Ipv6Addr>().ok()),
            port: self.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: Micros,
    #[serde(default)]
    value: Option<String>,
    /// v1 only.
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Span {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Micros,
    #[serde(default)]
    duration: Micros,
    #[serde(default)]
    local_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default)]
    tags: OrderedTags,
    #[serde(default)]
    debug: Option<bool>,
    #[serde(default)]
    shared: Option<bool>,
}

fn trace_id(s: &str, index: usize) -> Result<[u8; 16], ZipkinError> {
    s.parse::<spoor_model::TraceId>()
        .map(|id| id.0)
        .map_err(|_| ZipkinError::Id {
            index,
            field: "traceId",
            value: s.to_string(),
        })
}

fn span_id(s: &str, index: usize, field: &'static str) -> Result<[u8; 8], ZipkinError> {
    s.parse::<spoor_model::SpanId>()
        .map(|id| id.0)
        .map_err(|_| ZipkinError::Id {
            index,
            field,
            value: s.to_string(),
        })
}

fn parent(s: Option<&str>, index: usize) -> Result<Option<[u8; 8]>, ZipkinError> {
    match s {
        None | Some("") => Ok(None),
        Some(p) => span_id(p, index, "parentId").map(Some),
    }
}

/// Decodes a v2 JSON list of spans.
pub fn decode_v2_json(body: &[u8]) -> Result<Vec<ZipkinSpan>, ZipkinError> {
    let raw: Vec<V2Span> =
        serde_json::from_slice(body).map_err(|e| ZipkinError::Json(e.to_string()))?;
    let mut out = Vec::with_capacity(raw.len());
    for (index, s) in raw.into_iter().enumerate() {
        let kind = match s.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("CLIENT") => Some(ZipkinKind::Client),
            Some("SERVER") => Some(ZipkinKind::Server),
            Some("PRODUCER") => Some(ZipkinKind::Producer),
            Some("CONSUMER") => Some(ZipkinKind::Consumer),
            _ => None,
        };
        out.push(ZipkinSpan {
            trace_id: trace_id(&s.trace_id, index)?,
            id: span_id(&s.id, index, "id")?,
            parent_id: parent(s.parent_id.as_deref(), index)?,
            kind,
            name: s.name.unwrap_or_default(),
            timestamp_us: s.timestamp.get(),
            duration_us: s.duration.get(),
            local_endpoint: s.local_endpoint.map(JsonEndpoint::into_endpoint),
            remote_endpoint: s.remote_endpoint.map(JsonEndpoint::into_endpoint),
            annotations: s
                .annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| Annotation {
                    timestamp_us: a.timestamp.get(),
                    value: a.value.unwrap_or_default(),
                })
                .collect(),
            tags: s.tags.0,
            debug: s.debug.unwrap_or(false),
            shared: s.shared.unwrap_or(false),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct JsonBinaryAnnotation {
    key: String,
    #[serde(default = "null_scalar")]
    value: Scalar,
    #[serde(default)]
    endpoint: Option<JsonEndpoint>,
}

fn null_scalar() -> Scalar {
    Scalar::Null
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Span {
    trace_id: String,
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Micros,
    #[serde(default)]
    duration: Micros,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default)]
    binary_annotations: Option<Vec<JsonBinaryAnnotation>>,
    #[serde(default)]
    debug: Option<bool>,
}

/// A v1 span, already parsed; shared by the v1 JSON and v1 thrift decoders.
pub(crate) struct V1 {
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub name: String,
    pub timestamp_us: u64,
    pub duration_us: u64,
    pub annotations: Vec<(Annotation, Option<Endpoint>)>,
    /// (key, value, endpoint, is an address annotation `ca`/`sa`/`ma`)
    pub binary: Vec<(String, String, Option<Endpoint>, bool)>,
    pub debug: bool,
}

/// Decodes a v1 JSON list of spans and converts them to v2 (merged client+server spans split).
pub fn decode_v1_json(body: &[u8]) -> Result<Vec<ZipkinSpan>, ZipkinError> {
    let raw: Vec<V1Span> =
        serde_json::from_slice(body).map_err(|e| ZipkinError::Json(e.to_string()))?;
    let mut out = Vec::with_capacity(raw.len());
    for (index, s) in raw.into_iter().enumerate() {
        let v1 = V1 {
            trace_id: trace_id(&s.trace_id, index)?,
            id: span_id(&s.id, index, "id")?,
            parent_id: parent(s.parent_id.as_deref(), index)?,
            name: s.name.unwrap_or_default(),
            timestamp_us: s.timestamp.get(),
            duration_us: s.duration.get(),
            annotations: s
                .annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        Annotation {
                            timestamp_us: a.timestamp.get(),
                            value: a.value.unwrap_or_default(),
                        },
                        a.endpoint.map(JsonEndpoint::into_endpoint),
                    )
                })
                .collect(),
            binary: s
                .binary_annotations
                .unwrap_or_default()
                .into_iter()
                .map(|b| {
                    let address = matches!(b.key.as_str(), "ca" | "sa" | "ma")
                        && matches!(b.value, Scalar::Bool(true));
                    (
                        b.key,
                        b.value.into_string(),
                        b.endpoint.map(JsonEndpoint::into_endpoint),
                        address,
                    )
                })
                .collect(),
            debug: s.debug.unwrap_or(false),
        };
        out.extend(v1_to_v2(v1));
    }
    Ok(out)
}

/// Zipkin's v1 → v2 conversion: core annotations give kind, timestamps and local endpoint; a
/// span with both client and server annotations becomes a client span and a shared server span.
pub(crate) fn v1_to_v2(v1: V1) -> Vec<ZipkinSpan> {
    let find = |value: &str| v1.annotations.iter().find(|(a, _)| a.value == value);
    let (cs, cr, sr, ss) = (find("cs"), find("cr"), find("sr"), find("ss"));
    let (ms, mr) = (find("ms"), find("mr"));
    let other: Vec<Annotation> = v1
        .annotations
        .iter()
        .filter(|(a, _)| {
            !["cs", "cr", "sr", "ss", "ms", "mr", "ws", "wr"].contains(&a.value.as_str())
        })
        .map(|(a, _)| a.clone())
        .collect();
    let address = |key: &str| {
        v1.binary
            .iter()
            .find(|(k, _, _, is_addr)| *is_addr && k == key)
            .and_then(|(_, _, e, _)| e.clone())
    };
    let tags: Vec<(String, String)> = v1
        .binary
        .iter()
        .filter(|(_, _, _, is_addr)| !is_addr)
        .map(|(k, v, _, _)| (k.clone(), v.clone()))
        .collect();
    let fallback_endpoint = v1
        .annotations
        .iter()
        .find_map(|(_, e)| e.clone())
        .or_else(|| v1.binary.iter().find(|b| !b.3).and_then(|b| b.2.clone()));
    let base = ZipkinSpan {
        trace_id: v1.trace_id,
        id: v1.id,
        parent_id: v1.parent_id,
        name: v1.name.clone(),
        timestamp_us: v1.timestamp_us,
        duration_us: v1.duration_us,
        debug: v1.debug,
        ..Default::default()
    };
    let interval = |start: &(Annotation, Option<Endpoint>),
                    end: Option<&(Annotation, Option<Endpoint>)>| {
        end.map(|e| e.0.timestamp_us.saturating_sub(start.0.timestamp_us))
    };
    let mut spans = Vec::new();
    if let Some(cs) = cs {
        let mut client = base.clone();
        client.kind = Some(ZipkinKind::Client);
        client.local_endpoint = cs.1.clone().or_else(|| fallback_endpoint.clone());
        client.remote_endpoint = address("sa");
        if client.timestamp_us == 0 || sr.is_some() {
            client.timestamp_us = cs.0.timestamp_us;
            client.duration_us = interval(cs, cr).unwrap_or(client.duration_us);
        }
        client.annotations = other.clone();
        client.tags = tags.clone();
        spans.push(client);
    }
    if let Some(sr) = sr {
        let mut server = base.clone();
        server.kind = Some(ZipkinKind::Server);
        server.local_endpoint = sr.1.clone().or_else(|| fallback_endpoint.clone());
        server.remote_endpoint = address("ca");
        if cs.is_some() {
            server.shared = true;
            server.timestamp_us = sr.0.timestamp_us;
            server.duration_us = interval(sr, ss).unwrap_or(0);
        } else {
            if server.timestamp_us == 0 {
                server.timestamp_us = sr.0.timestamp_us;
                server.duration_us = interval(sr, ss).unwrap_or(0);
            }
            server.annotations = other.clone();
            server.tags = tags.clone();
        }
        spans.push(server);
    }
    if spans.is_empty() {
        let mut span = base;
        let (kind, endpoint) = match (ms, mr) {
            (Some(ms), _) => (Some(ZipkinKind::Producer), ms.1.clone()),
            (None, Some(mr)) => (Some(ZipkinKind::Consumer), mr.1.clone()),
            (None, None) => (None, None),
        };
        span.kind = kind;
        span.local_endpoint = endpoint.or(fallback_endpoint);
        if kind.is_some() {
            span.remote_endpoint = address("ma");
        }
        span.annotations = other;
        span.tags = tags;
        spans.push(span);
    }
    spans
}
