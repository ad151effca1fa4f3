//! `zipkin`: forwards to a Zipkin server's `POST /api/v2/spans`, as JSON (default) or
//! protobuf (`ListOfSpans`), translated by `spoor_query::zipkin::translate` as the Collector's
//! `zipkinv2` translator does (the same translation the Zipkin read API answers with).

use std::net::IpAddr;

use prost::Message;
use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

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

pub use spoor_query::zipkin::{Endpoint, ZipkinSpan, to_json, translate};

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
