//! OTLP metrics and logs: the batches, the sink contract they are handed to, and the one ingest
//! path both transports take (`POST /v1/metrics`, `/v1/logs`; `MetricsService/Export`,
//! `LogsService/Export`).
//!
//! A receiver whose signal has no pipeline (the implicit config has only traces) accepts, counts
//! in `spoor_receiver_{metric_points,log_records}_dropped_total` and drops, with one warning per
//! process naming the fix, as a Collector user would expect rather than a 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use spoor_model::{ErrorKind, SinkError};
use spoor_telemetry::{ReceiverMetrics, SignalKind, SignalMetrics};

use super::prescan::{
    DecodeBudget, Prescan, PrescanError, prescan_logs_json, prescan_logs_protobuf,
    prescan_metrics_json, prescan_metrics_protobuf,
};
use crate::component::ReceiverContext;

/// A decoded batch of metrics or logs.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalBatch {
    Metrics(Vec<ResourceMetrics>),
    Logs(Vec<ResourceLogs>),
}

impl SignalBatch {
    pub fn kind(&self) -> SignalKind {
        match self {
            SignalBatch::Metrics(_) => SignalKind::Metrics,
            SignalBatch::Logs(_) => SignalKind::Logs,
        }
    }

    /// Data points or log records in the batch.
    pub fn items(&self) -> usize {
        match self {
            SignalBatch::Metrics(rm) => rm
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(metric_points)
                .sum(),
            SignalBatch::Logs(rl) => rl
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
        }
    }
}

/// Data points of one metric.
pub fn metric_points(m: &Metric) -> usize {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Where a receiver hands decoded metrics or logs: the pipelines of that signal.
///
/// Contract: called concurrently; may await (exporters, overload); owns the batch. `Ok` means
/// the batch was taken and the client is acknowledged; an error's kind is answered to the client.
#[async_trait::async_trait]
pub trait SignalSink: Send + Sync {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError>;
}

/// The sinks of a receiver for the signals other than traces; `None`: no pipeline takes it.
#[derive(Clone, Default)]
pub struct SignalSinks {
    pub metrics: Option<Arc<dyn SignalSink>>,
    pub logs: Option<Arc<dyn SignalSink>>,
}

static WARNED_METRICS: AtomicBool = AtomicBool::new(false);
static WARNED_LOGS: AtomicBool = AtomicBool::new(false);

/// Counts a decoded batch, hands it to the signal's pipelines, or, without one, counts it as
/// dropped and warns once.
pub(crate) async fn deliver_signal(
    ctx: &ReceiverContext,
    requests: &ReceiverMetrics,
    counters: &SignalMetrics,
    batch: SignalBatch,
    wire_bytes: u64,
) -> Result<(), (ErrorKind, String)> {
    let items = batch.items() as u64;
    requests.received(0, wire_bytes);
    counters.received(items);
    let kind = batch.kind();
    let sink = match kind {
        SignalKind::Metrics => ctx.signals.metrics.as_ref(),
        SignalKind::Logs => ctx.signals.logs.as_ref(),
    };
    let Some(sink) = sink else {
        counters.dropped(items);
        let (warned, signal) = match kind {
            SignalKind::Metrics => (&WARNED_METRICS, "metrics"),
            SignalKind::Logs => (&WARNED_LOGS, "logs"),
        };
        if !warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                signal,
                "OTLP {signal} received but no {signal} pipeline takes them: they are acknowledged and dropped (counted in spoor_receiver_{}_dropped_total); add a `service.pipelines.{signal}` pipeline to a --config file (e.g. exporters: [prometheus] or [debug]) to use them",
                kind.items()
            );
        }
        return Ok(());
    };
    if items == 0 {
        return Ok(());
    }
    match sink.consume(batch).await {
        Ok(()) => {
            counters.accepted(items);
            Ok(())
        }
        Err(e) => {
            counters.refused(items);
            requests.request_error(e.kind.as_str(), 0);
            Err((e.kind, e.message))
        }
    }
}

/// An OTLP export request of a signal other than traces, with what the transports need to serve
/// it generically.
pub(crate) trait SignalRequest:
    prost::Message + Default + serde::de::DeserializeOwned + Send + 'static
{
    type Response: prost::Message + Default + Send + 'static;
    const KIND: SignalKind;
    const GRPC_SERVICE: &'static str;
    const GRPC_PATH: &'static str;
    fn prescan_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError>;
    fn prescan_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError>;
    fn into_batch(self) -> SignalBatch;
}

impl SignalRequest for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const KIND: SignalKind = SignalKind::Metrics;
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const GRPC_PATH: &'static str =
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    fn prescan_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
        prescan_metrics_protobuf(buf, budget)
    }
    fn prescan_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
        prescan_metrics_json(buf, budget)
    }
    fn into_batch(self) -> SignalBatch {
        SignalBatch::Metrics(self.resource_metrics)
    }
}

impl SignalRequest for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const KIND: SignalKind = SignalKind::Logs;
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const GRPC_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    fn prescan_protobuf(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
        prescan_logs_protobuf(buf, budget)
    }
    fn prescan_json(buf: &[u8], budget: DecodeBudget) -> Result<Prescan, PrescanError> {
        prescan_logs_json(buf, budget)
    }
    fn into_batch(self) -> SignalBatch {
        SignalBatch::Logs(self.resource_logs)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
        NumberDataPoint, ScopeMetrics, Summary, SummaryDataPoint,
    };
    use prost::Message;
    use spoor_model::attr;

    use super::*;

    const ROOMY: DecodeBudget = DecodeBudget {
        max_spans: 1_000,
        max_decoded_bytes: usize::MAX,
    };

    fn metric(name: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    fn request() -> ExportMetricsServiceRequest {
        let number = NumberDataPoint {
            attributes: vec![attr::string("k", "v")],
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        metric(
                            "g",
                            Data::Gauge(Gauge {
                                data_points: vec![number.clone(), number],
                            }),
                        ),
                        metric(
                            "h",
                            Data::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint {
                                    attributes: vec![attr::string("k", "v")],
                                    explicit_bounds: vec![1.0, 2.0],
                                    bucket_counts: vec![1, 2, 3],
                                    ..Default::default()
                                }],
                                aggregation_temporality: 2,
                            }),
                        ),
                        metric(
                            "e",
                            Data::ExponentialHistogram(ExponentialHistogram {
                                data_points: vec![ExponentialHistogramDataPoint {
                                    positive: Some(
                                        opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets {
                                            offset: 1,
                                            bucket_counts: vec![1, 2],
                                        },
                                    ),
                                    ..Default::default()
                                }],
                                aggregation_temporality: 2,
                            }),
                        ),
                        metric(
                            "s",
                            Data::Summary(Summary {
                                data_points: vec![SummaryDataPoint::default()],
                            }),
                        ),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn metric_points_are_counted_before_and_after_decoding() {
        let req = request();
        let bytes = req.encode_to_vec();
        let scanned = prescan_metrics_protobuf(&bytes, ROOMY).expect("prescan");
        assert_eq!(scanned.spans, 5);
        assert_eq!(req.clone().into_batch().items(), 5);
        let small = DecodeBudget {
            max_spans: 4,
            max_decoded_bytes: usize::MAX,
        };
        assert_eq!(
            prescan_metrics_protobuf(&bytes, small),
            Err(PrescanError::TooManySpans { limit: 4 })
        );
        let json = serde_json::to_vec(&req).expect("json");
        let scanned = prescan_metrics_json(&json, ROOMY).expect("json prescan");
        assert_eq!(scanned.spans, 5, "{}", String::from_utf8_lossy(&json));
        let back: ExportMetricsServiceRequest = serde_json::from_slice(&json).expect("decode");
        assert_eq!(back, req);
    }

    #[test]
    fn empty_metric_messages_cannot_blow_up_memory() {
        // 100,000 empty data points in ~200 KB would decode to many megabytes.
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric(
                        "g",
                        Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint::default(); 100_000],
                        }),
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = req.encode_to_vec();
        let budget = DecodeBudget::new(bytes.len(), usize::MAX);
        assert!(matches!(
            prescan_metrics_protobuf(&bytes, budget),
            Err(PrescanError::TooLarge { .. })
        ));
        assert!(prescan_metrics_protobuf(b"\x0a\xff\xff\xff", ROOMY).is_err());
    }

    #[test]
    fn otlp_json_metrics_and_logs_as_the_spec_writes_them_decode() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
            "scopeMetrics":[{"scope":{"name":"lib"},"metrics":[{"name":"orders","unit":"1",
            "sum":{"aggregationTemporality":2,"isMonotonic":true,
            "dataPoints":[{"asInt":"5","timeUnixNano":"1544712660300000000","attributes":[{"key":"k","value":{"stringValue":"v"}}]}]}}]}]}]}"#;
        assert_eq!(prescan_metrics_json(body, ROOMY).expect("prescan").spans, 1);
        let req: ExportMetricsServiceRequest = serde_json::from_slice(body).expect("decode");
        assert_eq!(req.into_batch().items(), 1);
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1544712660300000000","severityNumber":13,"severityText":"WARN","body":{"stringValue":"disk"}}]}]}]}"#;
        assert_eq!(prescan_logs_json(body, ROOMY).expect("prescan").spans, 1);
        let req: ExportLogsServiceRequest = serde_json::from_slice(body).expect("decode");
        assert_eq!(req.into_batch().items(), 1);
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(); 3],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let scanned = prescan_logs_protobuf(&logs.encode_to_vec(), ROOMY).expect("prescan");
        assert_eq!(scanned.spans, 3);
    }
}
