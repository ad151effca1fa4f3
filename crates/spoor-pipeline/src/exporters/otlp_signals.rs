//! `otlp` and `otlphttp` in metrics and logs pipelines: gRPC `MetricsService/Export` and
//! `LogsService/Export`, or `POST /v1/metrics` and `/v1/logs` (protobuf), behind the same kind
//! of bounded sending queue and retries as spans. The persistent queue (`storage`) keeps spans
//! only; a metrics or logs pipeline through such an exporter is refused at start.

use std::str::FromStr;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use spoor_model::{ErrorKind, SinkError};
use spoor_receivers::{SignalBatch, SignalSink};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::transport::Channel;

use super::otlp::{OtlpExporterConfig, OtlpHttpExporterConfig, retryable_code};
use super::queue::{RetrySettings, SendingQueue, retrying};
use super::{ClientSettings, ExportError};
use crate::ConfigError;
use crate::metrics::SignalExporterCounters;

/// How metrics and logs leave: gRPC or HTTP.
pub enum SignalClient {
    Grpc(Box<GrpcClients>),
    Http {
        client: reqwest::Client,
        metrics_url: String,
        logs_url: String,
        gzip: bool,
        headers: reqwest::header::HeaderMap,
    },
}

/// gRPC metadata sent with every request.
type GrpcHeaders = Vec<(MetadataKey<Ascii>, MetadataValue<Ascii>)>;

/// The gRPC side: one client per signal over one channel.
pub struct GrpcClients {
    metrics: MetricsServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
    headers: GrpcHeaders,
    timeout: std::time::Duration,
}

fn grpc_headers(client: &ClientSettings) -> Result<GrpcHeaders, ConfigError> {
    let mut headers = Vec::new();
    for (k, v) in &client.headers {
        let key = MetadataKey::from_str(&k.to_ascii_lowercase())
            .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header name"))?;
        let value = MetadataValue::try_from(v.as_str())
            .map_err(|_| ConfigError::new(format!("headers.{k}"), "invalid header value"))?;
        headers.push((key, value));
    }
    Ok(headers)
}

impl SignalClient {
    pub fn grpc(config: &OtlpExporterConfig) -> Result<Self, ConfigError> {
        let channel = super::grpc_client_channel(&config.endpoint, &config.client)?;
        let mut metrics =
            MetricsServiceClient::new(channel.clone()).max_encoding_message_size(usize::MAX);
        let mut logs = LogsServiceClient::new(channel).max_encoding_message_size(usize::MAX);
        let encoding = match config.client.compression.as_str() {
            "gzip" => Some(CompressionEncoding::Gzip),
            "zstd" => Some(CompressionEncoding::Zstd),
            _ => None,
        };
        if let Some(e) = encoding {
            metrics = metrics.send_compressed(e);
            logs = logs.send_compressed(e);
        }
        Ok(Self::Grpc(Box::new(GrpcClients {
            metrics,
            logs,
            headers: grpc_headers(&config.client)?,
            timeout: config.client.timeout.get(),
        })))
    }

    pub fn http(config: &OtlpHttpExporterConfig) -> Result<Self, ConfigError> {
        Ok(Self::Http {
            client: super::http_client(&config.client)?,
            metrics_url: config.signal_url(config.metrics_endpoint.as_deref(), "metrics"),
            logs_url: config.signal_url(config.logs_endpoint.as_deref(), "logs"),
            gzip: config.client.compression == "gzip",
            headers: super::header_map(&config.client)?,
        })
    }

    /// One attempt; the caller retries.
    pub async fn send(&self, batch: &SignalBatch) -> Result<(), ExportError> {
        match self {
            Self::Grpc(grpc) => {
                let GrpcClients {
                    metrics,
                    logs,
                    headers,
                    timeout,
                } = grpc.as_ref();
                let result = match batch.clone() {
                    SignalBatch::Metrics(resource_metrics) => {
                        let mut request =
                            tonic::Request::new(ExportMetricsServiceRequest { resource_metrics });
                        request.set_timeout(*timeout);
                        for (k, v) in headers {
                            request.metadata_mut().insert(k.clone(), v.clone());
                        }
                        metrics.clone().export(request).await.map(|_| ())
                    }
                    SignalBatch::Logs(resource_logs) => {
                        let mut request =
                            tonic::Request::new(ExportLogsServiceRequest { resource_logs });
                        request.set_timeout(*timeout);
                        for (k, v) in headers {
                            request.metadata_mut().insert(k.clone(), v.clone());
                        }
                        logs.clone().export(request).await.map(|_| ())
                    }
                };
                result.map_err(|status| ExportError {
                    message: format!(
                        "otlp export of {} failed: {}: {}",
                        signal_name(batch),
                        status.code(),
                        status.message()
                    ),
                    retryable: retryable_code(status.code()),
                })
            }
            Self::Http {
                client,
                metrics_url,
                logs_url,
                gzip,
                headers,
            } => {
                let (url, body) = match batch {
                    SignalBatch::Metrics(rm) => (
                        metrics_url,
                        ExportMetricsServiceRequest {
                            resource_metrics: rm.clone(),
                        }
                        .encode_to_vec(),
                    ),
                    SignalBatch::Logs(rl) => (
                        logs_url,
                        ExportLogsServiceRequest {
                            resource_logs: rl.clone(),
                        }
                        .encode_to_vec(),
                    ),
                };
                let request = client
                    .post(url)
                    .headers(headers.clone())
                    .header("content-type", "application/x-protobuf");
                super::post(request, body, *gzip, "otlphttp", url, |code| {
                    matches!(code, 429 | 502 | 503 | 504)
                })
                .await
            }
        }
    }
}

fn signal_name(batch: &SignalBatch) -> &'static str {
    match batch {
        SignalBatch::Metrics(_) => "metrics",
        SignalBatch::Logs(_) => "logs",
    }
}

/// A forwarding exporter for metrics or logs, with its queue (when enabled) and retries.
pub struct QueuedSignals {
    name: String,
    client: Arc<SignalClient>,
    retry: RetrySettings,
    counters: SignalExporterCounters,
    tx: Option<mpsc::Sender<SignalBatch>>,
}

impl QueuedSignals {
    /// Starts `num_consumers` senders when the queue is enabled; they finish what is queued
    /// and stop once the exporter is dropped.
    pub fn start(
        name: String,
        client: SignalClient,
        queue: &SendingQueue,
        retry: RetrySettings,
        counters: SignalExporterCounters,
    ) -> Result<(Self, Vec<JoinHandle<()>>), ConfigError> {
        if queue.enabled && queue.storage.is_some() {
            return Err(ConfigError::new(
                "sending_queue.storage",
                "the persistent queue keeps spans only; use an exporter without storage for metrics and logs",
            ));
        }
        let client = Arc::new(client);
        let mut tasks = Vec::new();
        let mut tx = None;
        if queue.enabled {
            let (sender, rx) = mpsc::channel::<SignalBatch>(queue.queue_size.max(1));
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..queue.num_consumers.max(1) {
                let rx = rx.clone();
                let client = client.clone();
                let retry = retry.clone();
                let counters = counters.clone();
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    loop {
                        let next = rx.lock().await.recv().await;
                        let Some(batch) = next else { return };
                        counters.queue_size.dec();
                        let _ = send(&name, &client, &batch, &retry, &counters).await;
                    }
                }));
            }
            tx = Some(sender);
        }
        Ok((
            Self {
                name,
                client,
                retry,
                counters,
                tx,
            },
            tasks,
        ))
    }
}

async fn send(
    name: &str,
    client: &SignalClient,
    batch: &SignalBatch,
    retry: &RetrySettings,
    counters: &SignalExporterCounters,
) -> Result<(), ExportError> {
    let items = batch.items() as u64;
    let c = counters.of(batch);
    let result = retrying(name, retry, &counters.retries, || client.send(batch)).await;
    match &result {
        Ok(()) => {
            c.sent.inc_by(items);
        }
        Err(e) => {
            c.send_failed.inc_by(items);
            tracing::error!(exporter = name, items, signal = signal_name(batch), error = %e, "export failed; dropped");
        }
    }
    result
}

#[async_trait::async_trait]
impl SignalSink for QueuedSignals {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        let Some(tx) = &self.tx else {
            return send(
                &self.name,
                &self.client,
                &batch,
                &self.retry,
                &self.counters,
            )
            .await
            .map_err(|e| SinkError::new(ErrorKind::Unavailable, e.message));
        };
        let items = batch.items() as u64;
        let c = self.counters.of(&batch);
        self.counters.queue_size.inc();
        match tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(_) => {
                self.counters.queue_size.dec();
                c.enqueue_failed.inc_by(items);
                Err(SinkError::new(
                    ErrorKind::Overloaded,
                    format!("exporter {}: sending queue is full", self.name),
                ))
            }
        }
    }
}
