//! Exporters: where a pipeline's spans go. The embedded store (`spoor`), `debug`/`logging`,
//! `file`, `prometheus` (metrics, served for scraping), and the forwarding `otlp` (gRPC) and `otlphttp` exporters with a bounded sending
//! queue and retries with exponential backoff.

mod debug;
mod file;
mod file_writer;
mod jaeger;
mod loadbalancing;
#[cfg(test)]
mod loadbalancing_tests;
mod otlp;
mod otlp_signals;
mod persistent_queue;
mod prometheus;
mod prometheus_names;
mod prometheus_proto;
mod prometheus_state;
mod queue;
mod tls;
mod zipkin;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spoor_model::ResourceSpans;

pub use debug::{DebugConfig, DebugExporter, Verbosity};
pub use file::{FileExporter, FileExporterConfig, FileSink, GroupByConfig, RotationConfig};
pub use jaeger::{JaegerExporter, JaegerExporterConfig, to_batches as jaeger_batches};
pub(crate) use loadbalancing::documented_defaults as loadbalancing_defaults;
pub use loadbalancing::{LoadBalancer, LoadBalancingConfig, RoutingKey};
pub use otlp::{OtlpExporterConfig, OtlpGrpcExporter, OtlpHttpExporter, OtlpHttpExporterConfig};
pub use otlp_signals::{QueuedSignals, SignalClient};
pub use persistent_queue::DiskQueue;
pub use prometheus::{PrometheusConfig, PrometheusExporter, ResourceToTelemetry};
pub use queue::{QueuedExporter, RetrySettings, SendingQueue, send_with_retry};
pub use tls::{TlsClientSettings, grpc_channel, grpc_uses_tls};
pub use zipkin::{ZipkinExporter, ZipkinExporterConfig};

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
///
/// What it stores is also counted for `/metrics` on the admin port: the span RED families
/// (`traces_span_metrics_*`) and, once a trace had no new span for `trace_idle_period`, the
/// trace families (`jaeger_traces_total`, `jaeger_trace_errors_total`,
/// `jaeger_trace_duration_seconds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoorExporterConfig {
    /// A trace with no new span for this long counts as complete in the trace metrics.
    pub trace_idle_period: Duration,
    /// Most span-metrics series on `/metrics`; further label sets count in the
    /// `otel_metric_overflow="true"` series.
    pub metrics_cardinality_limit: usize,
}

impl Default for SpoorExporterConfig {
    fn default() -> Self {
        Self {
            trace_idle_period: Duration::from_secs(5),
            metrics_cardinality_limit: 5000,
        }
    }
}

impl ComponentConfig for SpoorExporterConfig {
    fn into_spec(self) -> Spec {
        Spec::SpoorExporter(self)
    }
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
        self.tls.check(errors);
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

/// The HTTP client of an HTTP exporter, with its timeout.
pub(crate) fn http_client(client: &ClientSettings) -> Result<reqwest::Client, ConfigError> {
    tls::http_client(&client.tls, client.timeout.get())
}

/// The gRPC channel of a gRPC exporter: plaintext or TLS as `tls` and the endpoint say.
pub(crate) fn grpc_client_channel(
    endpoint: &str,
    client: &ClientSettings,
) -> Result<tonic::transport::Channel, ConfigError> {
    if grpc_uses_tls(&client.tls, endpoint) {
        return grpc_channel(endpoint, &client.tls, client.timeout.get());
    }
    let url = client.url(endpoint);
    Ok(tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| ConfigError::new("endpoint", format!("invalid endpoint {url:?}: {e}")))?
        .connect_timeout(client.timeout.get())
        .connect_lazy())
}

/// `headers` as an HTTP header map.
/// The batch split by the `spoor.tenant` resource attribute the receivers stamp with tenancy on,
/// the attribute removed (spans without one form the `None` group), in first-seen order.
pub(crate) fn by_tenant(batch: Vec<ResourceSpans>) -> Vec<(Option<String>, Vec<ResourceSpans>)> {
    let mut groups: Vec<(Option<String>, Vec<ResourceSpans>)> = Vec::new();
    for mut rs in batch {
        let tenant = spoor_receivers::tenant::take(&mut rs);
        match groups.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, group)) => group.push(rs),
            None => groups.push((tenant, vec![rs])),
        }
    }
    groups
}

pub(crate) fn header_map(
    client: &ClientSettings,
) -> Result<reqwest::header::HeaderMap, ConfigError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &client.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header name"))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Sets the body, gzip-compressed (with `content-encoding`) when asked.
pub(crate) fn with_body(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
    gzip: bool,
) -> Result<reqwest::RequestBuilder, ExportError> {
    if !gzip {
        return Ok(request.body(body));
    }
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&body)
        .and_then(|_| enc.finish())
        .map(|c| request.header("content-encoding", "gzip").body(c))
        .map_err(|e| ExportError::permanent(format!("gzip failed: {e}")))
}

/// An error with its causes (`a: b: c`): reqwest's own message hides the TLS or connection
/// failure underneath.
/// POSTs `body` (gzipped when asked) and maps the outcome: a transport failure is retryable,
/// a non-2xx status is retryable when `retryable(status)` says so. `what` names the exporter in
/// messages (`otlphttp export to URL failed: HTTP 400`).
pub(crate) async fn post(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
    gzip: bool,
    what: &str,
    url: &str,
    retryable: fn(u16) -> bool,
) -> Result<(), ExportError> {
    let request = with_body(request, body, gzip)?;
    let response = request.send().await.map_err(|e| {
        ExportError::retryable(format!(
            "{what} export to {url} failed: {}",
            error_chain(&e)
        ))
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    Err(ExportError {
        message: format!("{what} export to {url} failed: HTTP {code}"),
        retryable: retryable(code),
    })
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod by_tenant_tests {
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ResourceSpans, attr};

    fn rs(service: &str, tenant: Option<&str>) -> ResourceSpans {
        let mut attributes = vec![attr::string("service.name", service)];
        if let Some(t) = tenant {
            attributes.push(attr::string(spoor_receivers::tenant::TENANT_ATTRIBUTE, t));
        }
        ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_splits_by_tenant_and_loses_the_reserved_attribute() {
        let groups = super::by_tenant(vec![
            rs("x", Some("a")),
            rs("y", Some("b")),
            rs("z", None),
            rs("w", Some("a")),
        ]);
        let shape: Vec<(Option<&str>, Vec<&str>)> = groups
            .iter()
            .map(|(t, batch)| {
                let services = batch
                    .iter()
                    .map(|r| spoor_model::service_name(r.resource.as_ref()))
                    .collect();
                (t.as_deref(), services)
            })
            .collect();
        assert_eq!(
            shape,
            [
                (Some("a"), vec!["x", "w"]),
                (Some("b"), vec!["y"]),
                (None, vec!["z"])
            ]
        );
        let left = groups
            .iter()
            .flat_map(|(_, b)| b)
            .flat_map(|r| r.resource.iter().flat_map(|res| &res.attributes))
            .filter(|kv| kv.key == spoor_receivers::tenant::TENANT_ATTRIBUTE)
            .count();
        assert_eq!(left, 0);
    }
}
