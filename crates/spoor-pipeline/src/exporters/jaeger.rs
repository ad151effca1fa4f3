//! `jaeger`: the legacy exporter to a Jaeger collector's gRPC `api_v2.CollectorService/PostSpans`
//! (port 14250). Spans are translated with Spoor's one OTLP → Jaeger translation
//! (`spoor_query::jaeger`), one `Batch` per resource.

use prost_types::{Duration as PbDuration, Timestamp};
use serde::{Deserialize, Serialize};
use spoor_model::{ResourceSpans, SpanId, TraceId};
use spoor_query::jaeger;
use spoor_receivers::jaeger_codec::api_v2 as pb;
use spoor_receivers::jaeger_codec::api_v2::collector_service_client::CollectorServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::queue::{RetrySettings, SendingQueue};
use super::{ClientSettings, ExportError, Exporter};
use crate::ConfigError;
use crate::registry::{ComponentConfig, Spec};

/// `exporters.jaeger`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerExporterConfig {
    /// `host:port` of a Jaeger collector's gRPC port (14250).
    pub endpoint: String,
    #[serde(flatten)]
    pub client: ClientSettings,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: RetrySettings,
}

impl ComponentConfig for JaegerExporterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        self.client
            .check(&self.endpoint, &["gzip", "none", ""], &mut errors);
        self.sending_queue.check(&mut errors);
        self.retry_on_failure.check(&mut errors);
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::JaegerExporter(self)
    }
}

pub struct JaegerExporter {
    client: CollectorServiceClient<Channel>,
    timeout: std::time::Duration,
}

impl JaegerExporter {
    /// Connects lazily: an unreachable collector shows up as retryable export failures.
    pub fn new(config: &JaegerExporterConfig) -> Result<Self, ConfigError> {
        let channel = super::grpc_client_channel(&config.endpoint, &config.client)?;
        let mut client = CollectorServiceClient::new(channel);
        if config.client.compression == "gzip" {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            client,
            timeout: config.client.timeout.get(),
        })
    }
}

fn timestamp(nanos: u64) -> Timestamp {
    Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn duration(nanos: u64) -> PbDuration {
    PbDuration {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn key_value(kv: &jaeger::KeyValue) -> pb::KeyValue {
    let mut out = pb::KeyValue {
        key: kv.key.clone(),
        ..Default::default()
    };
    let v_type = match &kv.value {
        jaeger::TagValue::String(s) => {
            out.v_str = s.clone();
            pb::ValueType::String
        }
        jaeger::TagValue::Bool(b) => {
            out.v_bool = *b;
            pb::ValueType::Bool
        }
        jaeger::TagValue::Int64(i) => {
            out.v_int64 = *i;
            pb::ValueType::Int64
        }
        jaeger::TagValue::Float64(f) => {
            out.v_float64 = *f;
            pb::ValueType::Float64
        }
        jaeger::TagValue::Binary(b) => {
            out.v_binary = b.clone();
            pb::ValueType::Binary
        }
    };
    out.v_type = v_type as i32;
    out
}

/// One api_v2 `Batch` per resource.
pub fn to_batches(batch: &[ResourceSpans]) -> Vec<pb::Batch> {
    batch
        .iter()
        .map(|rs| {
            let model = jaeger::Trace::from_otlp(std::slice::from_ref(rs));
            let process = model.processes.values().next().map(|p| pb::Process {
                service_name: p.service_name.clone(),
                tags: p.tags.iter().map(key_value).collect(),
            });
            // `from_otlp` emits one span per OTLP span, scope by scope, in order.
            let sources = rs.scope_spans.iter().flat_map(|ss| ss.spans.iter());
            let spans = model
                .spans
                .iter()
                .zip(sources)
                .map(|(span, source)| pb::Span {
                    trace_id: TraceId::from_bytes(&source.trace_id)
                        .map(|t| t.0.to_vec())
                        .unwrap_or_default(),
                    span_id: SpanId::from_bytes(&source.span_id)
                        .map(|s| s.0.to_vec())
                        .unwrap_or_default(),
                    operation_name: span.operation_name.clone(),
                    references: span
                        .references
                        .iter()
                        .map(|r| pb::SpanRef {
                            trace_id: r
                                .trace_id
                                .parse::<TraceId>()
                                .map(|t| t.0.to_vec())
                                .unwrap_or_default(),
                            span_id: r
                                .span_id
                                .parse::<SpanId>()
                                .map(|s| s.0.to_vec())
                                .unwrap_or_default(),
                            ref_type: match r.ref_type {
                                jaeger::RefType::ChildOf => pb::SpanRefType::ChildOf,
                                jaeger::RefType::FollowsFrom => pb::SpanRefType::FollowsFrom,
                            } as i32,
                        })
                        .collect(),
                    flags: span.flags,
                    start_time: Some(timestamp(source.start_time_unix_nano)),
                    duration: Some(duration(
                        source
                            .end_time_unix_nano
                            .saturating_sub(source.start_time_unix_nano),
                    )),
                    tags: span.tags.iter().map(key_value).collect(),
                    logs: span
                        .logs
                        .iter()
                        .zip(source.events.iter())
                        .map(|(log, event)| pb::Log {
                            timestamp: Some(timestamp(event.time_unix_nano)),
                            fields: log.fields.iter().map(key_value).collect(),
                        })
                        .collect(),
                    process: None,
                    process_id: String::new(),
                    warnings: Vec::new(),
                })
                .collect();
            pb::Batch { spans, process }
        })
        .collect()
}

#[async_trait::async_trait]
impl Exporter for JaegerExporter {
    async fn export(&self, batch: Vec<ResourceSpans>) -> Result<(), ExportError> {
        for b in to_batches(&batch) {
            let mut request = tonic::Request::new(pb::PostSpansRequest { batch: Some(b) });
            request.set_timeout(self.timeout);
            if let Err(status) = self.client.clone().post_spans(request).await {
                use tonic::Code::*;
                return Err(ExportError {
                    message: format!(
                        "jaeger export failed: {}: {}",
                        status.code(),
                        status.message()
                    ),
                    retryable: matches!(
                        status.code(),
                        Cancelled | DeadlineExceeded | ResourceExhausted | Aborted | Unavailable
                    ),
                });
            }
        }
        Ok(())
    }
}
