//! Exporters: where a pipeline's spans go. The embedded store (`spoor`), `debug`/`logging`,
//! `file`, `prometheus` (metrics, served for scraping), and the forwarding `otlp` (gRPC) and `otlphttp` exporters with a bounded sending
//! queue and retries with exponential backoff.

mod debug;
mod file;
mod jaeger;
mod otlp;
mod prometheus;
mod prometheus_names;
mod prometheus_state;
mod queue;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

pub use debug::{DebugConfig, DebugExporter, Verbosity};
pub use file::{FileExporter, FileExporterConfig};
pub use jaeger::{JaegerExporter, JaegerExporterConfig, to_batches as jaeger_batches};
pub use otlp::{OtlpExporterConfig, OtlpGrpcExporter, OtlpHttpExporter, OtlpHttpExporterConfig};
pub use prometheus::{PrometheusConfig, PrometheusExporter, ResourceToTelemetry};
pub use queue::{QueuedExporter, RetrySettings, SendingQueue, send_with_retry};

use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// Why an export failed; `retryable` failures are retried with backoff.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    pub message: String,
    pub retryable: bool,
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Something that delivers a batch somewhere.
///
/// Contract: called concurrently (a queue runs several consumers); one call per attempt, so an
/// implementation does not retry itself; it owns the batch.
#[async_trait::async_trait]
pub trait Exporter: Send + Sync + 'static {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError>;
}

/// `exporters.spoor`: the embedded store, configured by the storage flags (`--storage`,
/// `--data-dir`, `--storage-url`, `--retention`, …). Acknowledged synchronously: a client is
/// answered only once the store has the spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoorExporterConfig {}

impl ComponentConfig for SpoorExporterConfig {
    fn into_spec(self) -> Spec {
        Spec::SpoorExporter(self)
    }
}

/// Client TLS settings; only plaintext (`insecure: true`) is available in this build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSettings {
    pub insecure: bool,
    pub insecure_skip_verify: bool,
}

/// Options every forwarding exporter has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    pub tls: TlsClientSettings,
    /// Extra headers (gRPC metadata) sent with every request.
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default), `zstd` (gRPC only) or `none`.
    pub compression: String,
    /// Deadline of one attempt.
    pub timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            tls: TlsClientSettings::default(),
            headers: BTreeMap::new(),
            compression: "gzip".to_string(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl ClientSettings {
    /// The URL to connect to: `host:port` becomes `http://host:port`.
    pub fn url(&self, endpoint: &str) -> String {
        if endpoint.contains("://") {
            endpoint.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", endpoint.trim_end_matches('/'))
        }
    }

    pub(crate) fn check(
        &self,
        endpoint: &str,
        compressions: &[&str],
        errors: &mut Vec<ConfigError>,
    ) {
        if endpoint.trim().is_empty() {
            errors.push(ConfigError::new(
                "endpoint",
                "is required (host:port or a URL)",
            ));
        }
        let https = endpoint.starts_with("https://");
        let plaintext = self.tls.insecure || endpoint.starts_with("http://");
        if https || !plaintext {
            errors.push(ConfigError::new(
                "tls.insecure",
                "TLS client connections are not available in this build: set tls.insecure: true or use an http:// endpoint",
            ));
        }
        if !compressions.contains(&self.compression.as_str()) {
            errors.push(ConfigError::new(
                "compression",
                format!(
                    "unsupported compression {:?}; expected one of {}",
                    self.compression,
                    compressions.join(", ")
                ),
            ));
        }
        for name in self.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    format!("headers.{name}"),
                    "invalid header name",
                ));
            }
        }
        if self.timeout.get().is_zero() {
            errors.push(ConfigError::new("timeout", "must be greater than 0"));
        }
    }
}
