//! `otlp` (gRPC `TraceService/Export`) and `otlphttp` (`POST /v1/traces`, protobuf) forwarding
//! of spans; metrics and logs go through `otlp_signals`.

use std::str::FromStr;

use prost::Message;
use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;
use spoor_model::otlp_collector::ExportTraceServiceRequest;
use spoor_model::otlp_collector::trace_service_client::TraceServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::Channel;

use super::queue::{RetrySettings, SendingQueue};
use super::{ClientSettings, ExportError, Exporter};
use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// `exporters.otlp`: OTLP over gRPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpExporterConfig {
    /// `host:port` or `http://host:port`.
    pub endpoint: String,
    #[serde(flatten)]
    pub client: ClientSettings,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: RetrySettings,
    /// With tenancy on (`--tenancy-header`, set by the graph, not by the config file): each
    /// span's `spoor.tenant` attribute is removed and sent as this header, one request per tenant.
    #[serde(skip)]
    pub tenant_header: Option<String>,
}

impl ComponentConfig for OtlpExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        self.client
            .check(&self.endpoint, &["gzip", "zstd", "none", ""], &mut errors);
        self.sending_queue.check(&mut errors);
        self.retry_on_failure.check(&mut errors);
        if !self.endpoint.is_empty()
            && tonic::transport::Endpoint::from_shared(self.client.url(&self.endpoint)).is_err()
        {
            errors.push(ConfigError::new(
                "endpoint",
                format!("invalid endpoint {:?}", self.endpoint),
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::OtlpExporter(self)
    }
}

/// `exporters.otlphttp`: OTLP over HTTP with protobuf bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpExporterConfig {
    /// Base URL; spans go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// Full URL for spans, overriding `endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, overriding `<endpoint>/v1/metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, overriding `<endpoint>/v1/logs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_endpoint: Option<String>,
    #[serde(flatten)]
    pub client: ClientSettings,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: RetrySettings,
    /// As `otlp`'s `tenant_header`.
    #[serde(skip)]
    pub tenant_header: Option<String>,
}

impl Default for OtlpHttpExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            client: ClientSettings {
                timeout: crate::config::Duration::from_secs(30),
                ..ClientSettings::default()
            },
            sending_queue: SendingQueue::default(),
            retry_on_failure: RetrySettings::default(),
            tenant_header: None,
        }
    }
}

impl OtlpHttpExporterConfig {
    pub fn traces_url(&self) -> String {
        self.signal_url(self.traces_endpoint.as_deref(), "traces")
    }

    /// `full` when given, else `<endpoint>/v1/<signal>`.
    pub fn signal_url(&self, full: Option<&str>, signal: &str) -> String {
        match full {
            Some(u) => self.client.url(u),
            None => format!("{}/v1/{signal}", self.client.url(&self.endpoint)),
        }
    }
}

impl ComponentConfig for OtlpHttpExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let endpoint = self.traces_endpoint.as_deref().unwrap_or(&self.endpoint);
        self.client
            .check(endpoint, &["gzip", "none", ""], &mut errors);
        self.sending_queue.check(&mut errors);
        self.retry_on_failure.check(&mut errors);
        if !endpoint.is_empty() && reqwest::Url::parse(&self.traces_url()).is_err() {
            errors.push(ConfigError::new(
                "endpoint",
                format!("invalid URL {endpoint:?}"),
            ));
        }
        for (option, full) in [
            ("metrics_endpoint", &self.metrics_endpoint),
            ("logs_endpoint", &self.logs_endpoint),
        ] {
            if let Some(u) = full
                && reqwest::Url::parse(&self.client.url(u)).is_err()
            {
                errors.push(ConfigError::new(option, format!("invalid URL {u:?}")));
            }
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::OtlpHttpExporter(self)
    }
}

/// The gRPC client side of `otlp`.
pub struct OtlpGrpcExporter {
    client: TraceServiceClient<Channel>,
    headers: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    timeout: std::time::Duration,
    tenant_header: Option<MetadataKey<tonic::metadata::Ascii>>,
}

impl OtlpGrpcExporter {
    /// Connects lazily: an unreachable endpoint shows up as retryable export failures.
    pub fn new(config: &OtlpExporterConfig) -> Result<Self, ConfigError> {
        let channel = super::grpc_client_channel(&config.endpoint, &config.client)?;
        let mut client = TraceServiceClient::new(channel).max_encoding_message_size(usize::MAX);
        match config.client.compression.as_str() {
            "gzip" => client = client.send_compressed(CompressionEncoding::Gzip),
            "zstd" => client = client.send_compressed(CompressionEncoding::Zstd),
            _ => {}
        }
        let mut headers = Vec::new();
        for (k, v) in &config.client.headers {
            let key = MetadataKey::from_str(&k.to_ascii_lowercase())
                .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header name"))?;
            let value = MetadataValue::try_from(v.as_str())
                .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header value"))?;
            headers.push((key, value));
        }
        let tenant_header = config
            .tenant_header
            .as_ref()
            .map(|h| {
                MetadataKey::from_str(&h.to_ascii_lowercase())
                    .map_err(|_| ConfigError::new("tenant_header", "invalid header name"))
            })
            .transpose()?;
        Ok(Self {
            client,
            headers,
            timeout: config.client.timeout.get(),
            tenant_header,
        })
    }
}

/// gRPC codes the Collector retries.
pub(crate) fn retryable_code(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Cancelled
            | DeadlineExceeded
            | ResourceExhausted
            | Aborted
            | OutOfRange
            | Unavailable
            | DataLoss
    )
}

#[async_trait::async_trait]
impl Exporter for OtlpGrpcExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let Some(header) = &self.tenant_header else {
            return self.send(batch, None).await;
        };
        for (tenant, batch) in super::by_tenant(batch) {
            let value = tenant
                .as_deref()
                .and_then(|t| MetadataValue::try_from(t).ok())
                .map(|v| (header.clone(), v));
            self.send(batch, value).await?;
        }
        Ok(())
    }
}

impl OtlpGrpcExporter {
    /// One `Export` call, with the tenant's header when given.
    async fn send(
        &self,
        batch: Vec<ResourceSpans>,
        tenant: Option<(
            MetadataKey<tonic::metadata::Ascii>,
            MetadataValue<tonic::metadata::Ascii>,
        )>,
    ) -> Result<(), ExportError> {
        let mut request = tonic::Request::new(ExportTraceServiceRequest {
            resource_spans: batch,
        });
        request.set_timeout(self.timeout);
        for (k, v) in self.headers.iter().chain(tenant.as_ref()) {
            request.metadata_mut().insert(k.clone(), v.clone());
        }
        match self.client.clone().export(request).await {
            Ok(response) => {
                let partial = response.into_inner().partial_success;
                if let Some(p) = partial.filter(|p| p.rejected_spans > 0) {
                    tracing::warn!(rejected = p.rejected_spans, message = %p.error_message, "otlp exporter: the receiver rejected spans");
                }
                Ok(())
            }
            Err(status) => {
                let mut message = format!(
                    "otlp export failed: {}: {}",
                    status.code(),
                    status.message()
                );
                if let Some(source) = std::error::Error::source(&status) {
                    message.push_str(": ");
                    message.push_str(&super::error_chain(source));
                }
                Err(ExportError {
                    message,
                    retryable: retryable_code(status.code()),
                })
            }
        }
    }
}

/// The HTTP client side of `otlphttp`.
pub struct OtlpHttpExporter {
    client: reqwest::Client,
    url: String,
    gzip: bool,
    headers: reqwest::header::HeaderMap,
    tenant_header: Option<reqwest::header::HeaderName>,
}

impl OtlpHttpExporter {
    pub fn new(config: &OtlpHttpExporterConfig) -> Result<Self, ConfigError> {
        let client = super::http_client(&config.client)?;
        let headers = super::header_map(&config.client)?;
        let tenant_header = config
            .tenant_header
            .as_ref()
            .map(|h| {
                reqwest::header::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| ConfigError::new("tenant_header", "invalid header name"))
            })
            .transpose()?;
        Ok(Self {
            client,
            url: config.traces_url(),
            gzip: config.client.compression == "gzip",
            headers,
            tenant_header,
        })
    }
}

#[async_trait::async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        let Some(header) = &self.tenant_header else {
            return self.send(batch, self.headers.clone()).await;
        };
        for (tenant, batch) in super::by_tenant(batch) {
            let mut headers = self.headers.clone();
            if let Some(v) = tenant
                .as_deref()
                .and_then(|t| reqwest::header::HeaderValue::from_str(t).ok())
            {
                headers.insert(header.clone(), v);
            }
            self.send(batch, headers).await?;
        }
        Ok(())
    }
}

impl OtlpHttpExporter {
    /// One `POST /v1/traces` with `headers`.
    async fn send(
        &self,
        batch: Vec<ResourceSpans>,
        headers: reqwest::header::HeaderMap,
    ) -> Result<(), ExportError> {
        let body = ExportTraceServiceRequest {
            resource_spans: batch,
        }
        .encode_to_vec();
        let request = self
            .client
            .post(&self.url)
            .headers(headers)
            .header("content-type", "application/x-protobuf");
        super::post(request, body, self.gzip, "otlphttp", &self.url, |code| {
            matches!(code, 429 | 502 | 503 | 504)
        })
        .await
    }
}
