//! OTLP → Zipkin v2, as the Collector's `zipkinv2` translator does (used by the `zipkin`
//! exporter to forward and by the Zipkin read API to answer):
//! - the resource's `service.name` (else `faas.name`, `k8s.deployment.name`,
//!   `process.executable.name`, else the default service name) is the local endpoint, and its
//!   other attributes, the scope name/version (`otel.library.name`/`.version`) and the span's
//!   attributes are tags (values in their string form);
//! - `net.host.ip`/`net.host.port` fill the local endpoint and `peer.service`,
//!   `net.peer.ip`/`net.peer.port` the remote one (those tags are then removed);
//! - kind CLIENT/SERVER/PRODUCER/CONSUMER (INTERNAL: no kind and the tag `span.kind: internal`);
//! - a status other than UNSET is the tag `otel.status_code` (`OK`/`ERROR`), its message
//!   `otel.status_description`; ERROR also sets `error: true`, otherwise `error` is removed;
//! - events are annotations (`name`, or `name|{attributes as JSON}|dropped count`), links the
//!   tags `otlp.link.<i>` (`trace id|span id|trace state|{attributes}|dropped`), trace state
//!   the tag `w3c.tracestate`;
//! - in JSON, times are microseconds, and span and service names are lower-cased (as zipkin-go
//!   and Zipkin's own `Span` builder do).

use std::collections::BTreeMap;
use std::net::IpAddr;

use spoor_model::otlp_common::{AnyValue, KeyValue, KeyValueList, any_value::Value};
use spoor_model::otlp_trace::{span::SpanKind, status::StatusCode};
use spoor_model::{ResourceSpans, Span, attr};

/// A span in the Zipkin v2 model, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipkinSpan {
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: Option<&'static str>,
    /// Microseconds since the epoch; 0 = unset.
    pub timestamp: u64,
    /// Microseconds, rounded as zipkin-go rounds.
    pub duration: u64,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub annotations: Vec<(u64, String)>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Endpoint {
    pub service_name: String,
    pub ip: Option<IpAddr>,
    pub port: u16,
}

fn fixed<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let a: [u8; N] = bytes.try_into().ok()?;
    a.iter().any(|b| *b != 0).then_some(a)
}

fn to_tags(attrs: &[KeyValue], tags: &mut BTreeMap<String, String>) {
    for kv in attrs {
        tags.insert(kv.key.clone(), attr::value_to_string(kv.value.as_ref()));
    }
}

/// Attributes as Go's `json.Marshal(map)` writes them: keys sorted.
fn attributes_json(attrs: &[KeyValue]) -> String {
    let mut sorted = attrs.to_vec();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    sorted.dedup_by(|a, b| a.key == b.key);
    attr::value_to_string(Some(&AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values: sorted })),
    }))
}

fn endpoint(
    tags: &mut BTreeMap<String, String>,
    service: &str,
    remote: bool,
    redundant: &mut Vec<&'static str>,
) -> Option<Endpoint> {
    let mut service_name = service.to_string();
    if remote && let Some(peer) = tags.get("peer.service") {
        service_name = peer.clone();
        redundant.push("peer.service");
    }
    let (ip_key, port_key) = if remote {
        ("net.peer.ip", "net.peer.port")
    } else {
        ("net.host.ip", "net.host.port")
    };
    let ip = tags.get(ip_key).map(|s| {
        redundant.push(ip_key);
        s.parse::<IpAddr>().ok()
    });
    let ip = ip.flatten();
    let port = tags.get(port_key).map_or(0, |s| {
        redundant.push(port_key);
        s.parse::<u16>().unwrap_or(0)
    });
    if service_name.is_empty() && ip.is_none() {
        return None;
    }
    Some(Endpoint {
        service_name,
        ip,
        port,
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Translates a batch as the Collector's `zipkinv2.FromTranslator` does; spans with an empty
/// trace or span id are skipped (the Collector fails the whole batch) and counted in the result.
pub fn translate(batch: &[ResourceSpans], default_service_name: &str) -> (Vec<ZipkinSpan>, usize) {
    let mut out = Vec::new();
    let mut invalid = 0;
    for rs in batch {
        let resource_attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let mut base = BTreeMap::new();
        to_tags(resource_attrs, &mut base);
        let service = if resource_attrs.is_empty() {
            default_service_name.to_string()
        } else if let Some(s) = base.remove("service.name") {
            s
        } else {
            let mut found = None;
            for key in [
                "faas.name",
                "k8s.deployment.name",
                "process.executable.name",
            ] {
                if let Some(s) = base.remove(key) {
                    base.insert("zipkin.service_name_source".to_string(), key.to_string());
                    found = Some(s);
                    break;
                }
            }
            found.unwrap_or_else(|| default_service_name.to_string())
        };
        for ss in &rs.scope_spans {
            // As the Collector: scope tags accumulate over the resource's scopes.
            if let Some(scope) = &ss.scope {
                to_tags(&scope.attributes, &mut base);
                if !scope.name.is_empty() {
                    base.insert("otel.library.name".to_string(), scope.name.clone());
                }
                if !scope.version.is_empty() {
                    base.insert("otel.library.version".to_string(), scope.version.clone());
                }
            }
            for span in &ss.spans {
                match translate_span(span, &service, &base) {
                    Some(z) => out.push(z),
                    None => invalid += 1,
                }
            }
        }
    }
    (out, invalid)
}

fn translate_span(
    span: &Span,
    service: &str,
    base: &BTreeMap<String, String>,
) -> Option<ZipkinSpan> {
    let trace_id = fixed::<16>(&span.trace_id)?;
    let id = fixed::<8>(&span.span_id)?;
    let mut tags = base.clone();
    to_tags(&span.attributes, &mut tags);
    if !span.trace_state.is_empty() {
        tags.insert("w3c.tracestate".to_string(), span.trace_state.clone());
    }
    let kind = match SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Server => Some("SERVER"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => {
            tags.insert("span.kind".to_string(), "internal".to_string());
            None
        }
        SpanKind::Unspecified => None,
    };
    let mut redundant = Vec::new();
    let local = endpoint(&mut tags, service, false, &mut redundant);
    let remote = endpoint(&mut tags, "", true, &mut redundant);
    for k in redundant {
        tags.remove(k);
    }
    let code = span.status.as_ref().map_or(0, |s| s.code);
    if code == StatusCode::Error as i32 {
        tags.insert("error".to_string(), "true".to_string());
    } else {
        tags.remove("error");
    }
    if let Some(status) = &span.status
        && code != StatusCode::Unset as i32
    {
        let text = if code == StatusCode::Error as i32 {
            "ERROR"
        } else {
            "OK"
        };
        tags.insert("otel.status_code".to_string(), text.to_string());
        if !status.message.is_empty() {
            tags.insert(
                "otel.status_description".to_string(),
                status.message.clone(),
            );
        }
    }
    let annotations = span
        .events
        .iter()
        .map(|e| {
            let value = if e.attributes.is_empty() && e.dropped_attributes_count == 0 {
                e.name.clone()
            } else {
                format!(
                    "{}|{}|{}",
                    e.name,
                    attributes_json(&e.attributes),
                    e.dropped_attributes_count
                )
            };
            ((e.time_unix_nano + 500) / 1_000, value)
        })
        .collect();
    for (i, link) in span.links.iter().enumerate() {
        tags.insert(
            format!("otlp.link.{i}"),
            format!(
                "{}|{}|{}|{}|{}",
                if link.trace_id.iter().all(|b| *b == 0) {
                    String::new()
                } else {
                    hex(&link.trace_id)
                },
                if link.span_id.iter().all(|b| *b == 0) {
                    String::new()
                } else {
                    hex(&link.span_id)
                },
                link.trace_state,
                attributes_json(&link.attributes),
                link.dropped_attributes_count
            ),
        );
    }
    let start = span.start_time_unix_nano;
    let timestamp = if start >= 1_000_000_000 {
        (start + 500) / 1_000
    } else {
        0
    };
    let nanos = span.end_time_unix_nano.saturating_sub(start);
    let duration = match (span.end_time_unix_nano, nanos) {
        (0, _) | (_, 0) => 0,
        (_, n) if n < 1_000 => 1,
        (_, n) => (n + 500) / 1_000,
    };
    Some(ZipkinSpan {
        trace_id,
        id,
        parent_id: fixed::<8>(&span.parent_span_id),
        name: span.name.clone(),
        kind,
        timestamp,
        duration,
        local,
        remote,
        annotations,
        tags,
    })
}

pub(crate) fn trace_id_hex(id: &[u8; 16]) -> String {
    if id[..8].iter().all(|b| *b == 0) {
        hex(&id[8..])
    } else {
        hex(id)
    }
}

fn endpoint_json(e: &Endpoint) -> Option<serde_json::Value> {
    let mut m = serde_json::Map::new();
    if !e.service_name.is_empty() {
        m.insert("serviceName".into(), e.service_name.to_lowercase().into());
    }
    match e.ip {
        Some(IpAddr::V4(ip)) => {
            m.insert("ipv4".into(), ip.to_string().into());
        }
        Some(IpAddr::V6(ip)) => {
            m.insert("ipv6".into(), ip.to_string().into());
        }
        None => {}
    }
    if e.port != 0 {
        m.insert("port".into(), e.port.into());
    }
    (!m.is_empty()).then_some(serde_json::Value::Object(m))
}

/// The Zipkin v2 JSON body (as zipkin-go marshals a span).
pub fn to_json(spans: &[ZipkinSpan]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = spans.iter().map(span_json).collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// One span in Zipkin v2 JSON: ids in lower-case hex (a trace id whose high half is zero in 16
/// digits), names lower-cased, times in microseconds, empty fields left out.
pub fn span_json(s: &ZipkinSpan) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("traceId".into(), trace_id_hex(&s.trace_id).into());
    if let Some(p) = &s.parent_id {
        m.insert("parentId".into(), hex(p).into());
    }
    m.insert("id".into(), hex(&s.id).into());
    if let Some(k) = s.kind {
        m.insert("kind".into(), k.into());
    }
    if !s.name.is_empty() {
        m.insert("name".into(), s.name.to_lowercase().into());
    }
    if s.timestamp != 0 {
        m.insert("timestamp".into(), s.timestamp.into());
    }
    if s.duration != 0 {
        m.insert("duration".into(), s.duration.into());
    }
    if let Some(e) = s.local.as_ref().and_then(endpoint_json) {
        m.insert("localEndpoint".into(), e);
    }
    if let Some(e) = s.remote.as_ref().and_then(endpoint_json) {
        m.insert("remoteEndpoint".into(), e);
    }
    if !s.annotations.is_empty() {
        let a: Vec<_> = s
            .annotations
            .iter()
            .map(|(t, v)| serde_json::json!({"timestamp": t, "value": v}))
            .collect();
        m.insert("annotations".into(), a.into());
    }
    if !s.tags.is_empty() {
        m.insert(
            "tags".into(),
            serde_json::to_value(&s.tags).unwrap_or_default(),
        );
    }
    serde_json::Value::Object(m)
}
