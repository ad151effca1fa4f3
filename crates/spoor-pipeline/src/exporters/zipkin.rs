//! `zipkin`: forwards to a Zipkin server's `POST /api/v2/spans`, as JSON (default) or
//! protobuf (`ListOfSpans`), translated as the Collector's `zipkinv2` translator does:
//! - the resource's `service.name` (else `faas.name`, `k8s.deployment.name`,
//!   `process.executable.name`, else `default_service_name`) is the local endpoint, and its
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
//! - in JSON, times are microseconds, and span and service names are lower-cased (zipkin-go).

use std::collections::BTreeMap;
use std::net::IpAddr;

use prost::Message;
use serde::{Deserialize, Serialize};
use spoor_model::otlp_common::{AnyValue, KeyValue, KeyValueList, any_value::Value};
use spoor_model::otlp_trace::{span::SpanKind, status::StatusCode};
use spoor_model::{ResourceSpans, Span, attr};

use super::queue::{RetrySettings, SendingQueue};
use super::{ClientSettings, ExportError, Exporter};
use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// The Collector's service name for a resource without one.
const NO_SERVICE_NAME: &str = "<missing service name>";

/// `exporters.zipkin`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinExporterConfig {
    /// The full URL of the span endpoint, e.g. `http://zipkin:9411/api/v2/spans`.
    pub endpoint: String,
    /// `json` or `proto`.
    pub format: String,
    /// The local service name of spans whose resource names none.
    pub default_service_name: String,
    #[serde(flatten)]
    pub client: ClientSettings,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: RetrySettings,
}

impl Default for ZipkinExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            format: "json".to_string(),
            default_service_name: NO_SERVICE_NAME.to_string(),
            client: ClientSettings {
                compression: "none".to_string(),
                ..ClientSettings::default()
            },
            sending_queue: SendingQueue::default(),
            retry_on_failure: RetrySettings::default(),
        }
    }
}

impl ComponentConfig for ZipkinExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        self.client
            .check(&self.endpoint, &["gzip", "none", ""], &mut errors);
        self.sending_queue.check(&mut errors);
        self.retry_on_failure.check(&mut errors);
        if !matches!(self.format.as_str(), "json" | "proto") {
            errors.push(ConfigError::new(
                "format",
                format!(
                    "unsupported format {:?}; expected json or proto",
                    self.format
                ),
            ));
        }
        if !self.endpoint.is_empty()
            && reqwest::Url::parse(&self.client.url(&self.endpoint)).is_err()
        {
            errors.push(ConfigError::new(
                "endpoint",
                format!("invalid URL {:?}", self.endpoint),
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::ZipkinExporter(self)
    }
}

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

fn hex(bytes: &[u8]) -> String {
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

fn trace_id_hex(id: &[u8; 16]) -> String {
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
    let list: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("traceId".into(), trace_id_hex(&s.trace_id).into());
            m.insert("id".into(), hex(&s.id).into());
            if let Some(p) = &s.parent_id {
                m.insert("parentId".into(), hex(p).into());
            }
            if !s.name.is_empty() {
                m.insert("name".into(), s.name.to_lowercase().into());
            }
            if let Some(k) = s.kind {
                m.insert("kind".into(), k.into());
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
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

mod proto {
    //! Zipkin's `zipkin.proto` (proto3), the messages the exporter writes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListOfSpans {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub kind: i32,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        #[prost(btree_map = "string, string", tag = "11")]
        pub tags: std::collections::BTreeMap<String, String>,
        #[prost(bool, tag = "12")]
        pub debug: bool,
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Endpoint {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub port: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Annotation {
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

fn endpoint_proto(e: &Endpoint) -> proto::Endpoint {
    let (ipv4, ipv6) = match e.ip {
        Some(IpAddr::V4(ip)) => (ip.octets().to_vec(), Vec::new()),
        Some(IpAddr::V6(ip)) => (Vec::new(), ip.octets().to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    proto::Endpoint {
        service_name: e.service_name.clone(),
        ipv4,
        ipv6,
        port: i32::from(e.port),
    }
}

/// The Zipkin v2 protobuf body (`ListOfSpans`).
pub fn to_proto(spans: &[ZipkinSpan]) -> Vec<u8> {
    let spans = spans
        .iter()
        .map(|s| proto::Span {
            trace_id: s.trace_id.to_vec(),
            parent_id: s.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
            id: s.id.to_vec(),
            kind: match s.kind {
                Some("CLIENT") => 1,
                Some("SERVER") => 2,
                Some("PRODUCER") => 3,
                Some("CONSUMER") => 4,
                _ => 0,
            },
            name: s.name.clone(),
            timestamp: s.timestamp,
            duration: s.duration,
            local_endpoint: s.local.as_ref().map(endpoint_proto),
            remote_endpoint: s.remote.as_ref().map(endpoint_proto),
            annotations: s
                .annotations
                .iter()
                .map(|(t, v)| proto::Annotation {
                    timestamp: *t,
                    value: v.clone(),
                })
                .collect(),
            tags: s.tags.clone(),
            debug: false,
            shared: false,
        })
        .collect();
    proto::ListOfSpans { spans }.encode_to_vec()
}

/// The HTTP client side of `zipkin`.
pub struct ZipkinExporter {
    client: reqwest::Client,
    url: String,
    proto: bool,
    gzip: bool,
    default_service_name: String,
    headers: reqwest::header::HeaderMap,
}

impl ZipkinExporter {
    pub fn new(config: &ZipkinExporterConfig) -> Result<Self, ConfigError> {
        let client = super::http_client(&config.client)?;
        Ok(Self {
            client,
            url: config.client.url(&config.endpoint),
            proto: config.format == "proto",
            gzip: config.client.compression == "gzip",
            default_service_name: config.default_service_name.clone(),
            headers: super::header_map(&config.client)?,
        })
    }
}

#[async_trait::async_trait]
impl Exporter for ZipkinExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let (spans, invalid) = translate(&batch, &self.default_service_name);
        if invalid > 0 {
            tracing::warn!(
                spans = invalid,
                "zipkin exporter: spans without a trace or span id are not sent"
            );
        }
        if spans.is_empty() {
            return Ok(());
        }
        let (body, content_type) = if self.proto {
            (to_proto(&spans), "application/x-protobuf")
        } else {
            (to_json(&spans), "application/json")
        };
        let request = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header("content-type", content_type);
        super::post(request, body, self.gzip, "zipkin", &self.url, |code| {
            matches!(code, 408 | 429) || code >= 500
        })
        .await
    }
}

#[cfg(test)]
#[path = "zipkin_tests.rs"]
mod tests;
