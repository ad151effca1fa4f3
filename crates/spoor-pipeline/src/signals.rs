//! Metrics and logs pipelines: the same graph as traces (receivers → processors in order →
//! exporters and connectors), over [`SignalBatch`]es.
//!
//! Processors: `memory_limiter` refuses while memory is over its limit; `resource` and
//! `attributes` (without `include`/`exclude`) rewrite resource attributes and the attributes of
//! every data point or log record; `batch` hands metrics and logs on at once (its grouping
//! applies to spans). Exporters: `prometheus` (metrics), `debug`/`logging` (stdout) and `file`
//! (as the Collector writes it), `otlp` and `otlphttp` (forwarding, queued, retried);
//! `forward` connects pipelines of the same signal. Validation refuses any
//! other component in a metrics or logs pipeline, naming it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use futures::future::join_all;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use spoor_model::{ErrorKind, ResourceSpans, SinkError, TraceSink, span_count};
use spoor_receivers::{SignalBatch, SignalSink, SignalSinks, metric_points};
use tokio::task::JoinHandle;

use crate::config::{ComponentId, Config, Signal};
use crate::exporters::{
    DebugConfig, FileExporterConfig, FileSink, PrometheusExporter, QueuedSignals, RetrySettings,
    SendingQueue, SignalClient, Verbosity,
};
use crate::graph::{BuildContext, BuildError};
use crate::memory_limiter::MemoryLimiter;
use crate::metrics::{PipelineMetrics, SignalExporterCounters, SignalExporterMetrics};
use crate::registry::{Kind, Spec};
use crate::{ProcessError, SpanProcessor};

/// The resource of every resource entry of a batch, created where missing.
pub(crate) fn resources(batch: &mut SignalBatch) -> Vec<&mut Resource> {
    match batch {
        SignalBatch::Metrics(rm) => rm
            .iter_mut()
            .map(|r| r.resource.get_or_insert_with(Resource::default))
            .collect(),
        SignalBatch::Logs(rl) => rl
            .iter_mut()
            .map(|r| r.resource.get_or_insert_with(Resource::default))
            .collect(),
    }
}

/// Calls `f` on the attributes of every data point of one metric.
pub(crate) fn for_each_point_attributes(m: &mut Metric, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match &mut m.data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
        }
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        None => {}
    }
}

type Sinks = Vec<Arc<dyn SignalSink>>;

/// Builds the metrics and logs pipelines of a config.
pub(crate) struct SignalBuilder<'a> {
    config: &'a Config,
    ctx: &'a BuildContext,
    pipelines: BTreeMap<usize, Arc<dyn SignalSink>>,
    exporters: BTreeMap<(ComponentId, Signal), Arc<dyn SignalSink>>,
    prometheus: BTreeMap<ComponentId, Arc<PrometheusExporter>>,
    metrics: SignalExporterMetrics,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    /// Endpoints the exporters serve (`prometheus`), with their bound addresses.
    pub(crate) endpoints: Vec<(String, std::net::SocketAddr)>,
}

fn build_error(id: &ComponentId, kind: Kind, e: impl std::fmt::Display) -> BuildError {
    BuildError {
        component: format!("{}.{id}", kind.section()),
        message: e.to_string(),
    }
}

impl<'a> SignalBuilder<'a> {
    pub(crate) fn new(config: &'a Config, ctx: &'a BuildContext, spans: &PipelineMetrics) -> Self {
        Self {
            config,
            ctx,
            pipelines: BTreeMap::new(),
            exporters: BTreeMap::new(),
            prometheus: BTreeMap::new(),
            metrics: SignalExporterMetrics::register(&ctx.telemetry, spans),
            tasks: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The metrics and logs sinks of every receiver listed in a metrics or logs pipeline.
    pub(crate) fn build(&mut self) -> Result<BTreeMap<ComponentId, SignalSinks>, BuildError> {
        // Per receiver: its metrics sinks and its logs sinks.
        let mut by_receiver: BTreeMap<ComponentId, (Sinks, Sinks)> = BTreeMap::new();
        for (i, p) in self.config.service.pipelines.iter().enumerate() {
            if p.id.signal == Signal::Traces {
                continue;
            }
            let sink = self.pipeline(i)?;
            for r in &p.receivers {
                if self.config.component(Kind::Receiver, r).is_none() {
                    continue;
                }
                let entry = by_receiver.entry(r.clone()).or_default();
                match p.id.signal {
                    Signal::Metrics => entry.0.push(sink.clone()),
                    _ => entry.1.push(sink.clone()),
                }
            }
        }
        Ok(by_receiver
            .into_iter()
            .map(|(id, (metrics, logs))| {
                let sinks = SignalSinks {
                    metrics: (!metrics.is_empty()).then(|| fan_out(metrics)),
                    logs: (!logs.is_empty()).then(|| fan_out(logs)),
                };
                (id, sinks)
            })
            .collect())
    }

    pub(crate) fn pipeline(&mut self, i: usize) -> Result<Arc<dyn SignalSink>, BuildError> {
        if let Some(s) = self.pipelines.get(&i) {
            return Ok(s.clone());
        }
        let spec = &self.config.service.pipelines[i];
        let signal = spec.id.signal;
        let mut exporters = Vec::new();
        for e in &spec.exporters {
            exporters.push(self.exporter_or_connector(e, signal)?);
        }
        let mut stages = Vec::new();
        for p in &spec.processors {
            let component = self
                .config
                .component(Kind::Processor, p)
                .ok_or_else(|| build_error(p, Kind::Processor, "not defined"))?;
            match &component.spec {
                Spec::Batch(_) => {}
                Spec::MemoryLimiter(c) => stages.push(Stage::Memory(MemoryLimiter::start(
                    c,
                    Arc::new(NullSink),
                    self.ctx.shutdown.clone(),
                    self.ctx.memory.clone(),
                ))),
                Spec::SpanProcessor(processor) if processor.signals().contains(&signal) => {
                    stages.push(Stage::Sync(processor.clone()));
                }
                _ => {
                    return Err(build_error(
                        p,
                        Kind::Processor,
                        format!("cannot process {}", signal.as_str()),
                    ));
                }
            }
        }
        let sink: Arc<dyn SignalSink> = Arc::new(SignalPipeline { stages, exporters });
        self.pipelines.insert(i, sink.clone());
        Ok(sink)
    }

    fn exporter_or_connector(
        &mut self,
        id: &ComponentId,
        signal: Signal,
    ) -> Result<Arc<dyn SignalSink>, BuildError> {
        if let Some(c) = self.config.component(Kind::Connector, id) {
            if let Some(kind) = match c.spec {
                Spec::SpanMetrics(_) => Some("spanmetrics"),
                Spec::ServiceGraph(_) => Some("servicegraph"),
                _ => None,
            } {
                return Err(build_error(
                    id,
                    Kind::Connector,
                    format!("{kind} takes traces, not {}", signal.as_str()),
                ));
            }
            let downstream: Vec<usize> = self
                .config
                .service
                .pipelines
                .iter()
                .enumerate()
                .filter(|(_, p)| p.receivers.contains(id) && p.id.signal == signal)
                .map(|(j, _)| j)
                .collect();
            let mut sinks = Vec::new();
            for j in downstream {
                sinks.push(self.pipeline(j)?);
            }
            return Ok(fan_out(sinks));
        }
        if let Some(e) = self.exporters.get(&(id.clone(), signal)) {
            return Ok(e.clone());
        }
        let component = self
            .config
            .component(Kind::Exporter, id)
            .ok_or_else(|| build_error(id, Kind::Exporter, "not defined"))?;
        let name = id.to_string();
        let sink: Arc<dyn SignalSink> = match &component.spec {
            Spec::Prometheus(c) => {
                if let Some(p) = self.prometheus.get(id) {
                    p.clone()
                } else {
                    let exporter = Arc::new(PrometheusExporter::new(c));
                    let (addr, task) = exporter
                        .serve(&name, &c.endpoint, self.ctx.shutdown.clone())
                        .map_err(|e| build_error(id, Kind::Exporter, e))?;
                    self.tasks.push(task);
                    self.endpoints.push((name.clone(), addr));
                    self.prometheus.insert(id.clone(), exporter.clone());
                    exporter
                }
            }
            Spec::Debug(c) => Arc::new(DebugSignals::new(name.clone(), c)),
            Spec::FileExporter(c) => {
                Arc::new(FileSignals::open(c).map_err(|e| build_error(id, Kind::Exporter, e))?)
            }
            Spec::OtlpExporter(c) => {
                let client =
                    SignalClient::grpc(c).map_err(|e| build_error(id, Kind::Exporter, e))?;
                return self.forwarding(id, signal, client, &c.sending_queue, &c.retry_on_failure);
            }
            Spec::OtlpHttpExporter(c) => {
                let client =
                    SignalClient::http(c).map_err(|e| build_error(id, Kind::Exporter, e))?;
                return self.forwarding(id, signal, client, &c.sending_queue, &c.retry_on_failure);
            }
            Spec::Inert => Arc::new(NullSink),
            _ => {
                return Err(build_error(
                    id,
                    Kind::Exporter,
                    format!("cannot export {}", signal.as_str()),
                ));
            }
        };
        let sink: Arc<dyn SignalSink> = Arc::new(Counted {
            inner: sink,
            counters: self.metrics.exporter(&name),
        });
        self.exporters.insert((id.clone(), signal), sink.clone());
        Ok(sink)
    }

    /// `otlp`/`otlphttp` for one signal: its own queue and consumers (counted by the exporter).
    fn forwarding(
        &mut self,
        id: &ComponentId,
        signal: Signal,
        client: SignalClient,
        queue: &SendingQueue,
        retry: &RetrySettings,
    ) -> Result<Arc<dyn SignalSink>, BuildError> {
        let name = id.to_string();
        let (queued, tasks) = QueuedSignals::start(
            name.clone(),
            client,
            queue,
            retry.clone(),
            self.metrics.exporter(&name),
        )
        .map_err(|e| build_error(id, Kind::Exporter, e))?;
        self.tasks.extend(tasks);
        let sink: Arc<dyn SignalSink> = Arc::new(queued);
        self.exporters.insert((id.clone(), signal), sink.clone());
        Ok(sink)
    }
}

/// An exporter called in line (prometheus, debug, file), counted as sent or failed.
struct Counted {
    inner: Arc<dyn SignalSink>,
    counters: SignalExporterCounters,
}

#[async_trait::async_trait]
impl SignalSink for Counted {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        let items = batch.items() as u64;
        let c = self.counters.of(&batch).clone();
        let result = self.inner.consume(batch).await;
        match &result {
            Ok(()) => {
                c.sent.inc_by(items);
            }
            Err(_) => {
                c.send_failed.inc_by(items);
            }
        }
        result
    }
}

enum Stage {
    Memory(MemoryLimiter),
    Sync(Arc<dyn SpanProcessor>),
}

struct SignalPipeline {
    stages: Vec<Stage>,
    exporters: Vec<Arc<dyn SignalSink>>,
}

#[async_trait::async_trait]
impl SignalSink for SignalPipeline {
    async fn consume(&self, mut batch: SignalBatch) -> Result<(), SinkError> {
        for stage in &self.stages {
            match stage {
                Stage::Memory(m) => m.admit()?,
                Stage::Sync(p) => {
                    batch = p
                        .process_signal(batch)
                        .map_err(|ProcessError(m)| SinkError::new(ErrorKind::InvalidInput, m))?;
                }
            }
        }
        if batch.items() == 0 {
            return Ok(());
        }
        consume_all(&self.exporters, batch).await
    }
}

pub(crate) fn fan_out(mut sinks: Vec<Arc<dyn SignalSink>>) -> Arc<dyn SignalSink> {
    if sinks.len() == 1
        && let Some(only) = sinks.pop()
    {
        return only;
    }
    Arc::new(FanOut(sinks))
}

struct FanOut(Vec<Arc<dyn SignalSink>>);

#[async_trait::async_trait]
impl SignalSink for FanOut {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        consume_all(&self.0, batch).await
    }
}

async fn consume_all(sinks: &[Arc<dyn SignalSink>], batch: SignalBatch) -> Result<(), SinkError> {
    match sinks {
        [] => Ok(()),
        [only] => only.consume(batch).await,
        [rest @ .., last] => {
            let copies = rest.iter().map(|s| s.consume(batch.clone()));
            let (results, last) = futures::join!(join_all(copies), last.consume(batch));
            results.into_iter().chain(std::iter::once(last)).collect()
        }
    }
}

/// Takes anything and does nothing (an accepted-only exporter; the memory limiter's unused
/// span path).
pub(crate) struct NullSink;

#[async_trait::async_trait]
impl SignalSink for NullSink {
    async fn consume(&self, _: SignalBatch) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl TraceSink for NullSink {
    async fn consume(&self, _: Vec<ResourceSpans>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The trace sink of a receiver listed only in metrics or logs pipelines: spans are
/// acknowledged, counted by the receiver, and dropped with one warning.
pub(crate) struct NoTracesPipeline {
    pub(crate) receiver: String,
    pub(crate) warned: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl TraceSink for NoTracesPipeline {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                receiver = %self.receiver,
                spans = span_count(&batch),
                "spans received but no traces pipeline lists this receiver: they are dropped; add it to a service.pipelines.traces pipeline"
            );
        }
        Ok(())
    }
}

/// `debug`/`logging` for metrics and logs: a line per batch; with `normal`, a line per metric
/// or log record; with `detailed`, every data point's or record's attributes too.
struct DebugSignals {
    name: String,
    verbosity: Verbosity,
}

impl DebugSignals {
    fn new(name: String, config: &DebugConfig) -> Self {
        Self {
            name,
            verbosity: config.effective_verbosity(),
        }
    }
}

pub(crate) fn render_signals(name: &str, verbosity: Verbosity, batch: &SignalBatch) -> String {
    let mut out = String::new();
    match batch {
        SignalBatch::Metrics(rm) => {
            let metrics: Vec<_> = rm
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .collect();
            let _ = writeln!(
                out,
                "{name}: {} metric points in {} metrics",
                batch.items(),
                metrics.len()
            );
            if verbosity != Verbosity::Basic {
                for m in metrics {
                    let ty = match &m.data {
                        Some(Data::Gauge(_)) => "gauge",
                        Some(Data::Sum(_)) => "sum",
                        Some(Data::Histogram(_)) => "histogram",
                        Some(Data::ExponentialHistogram(_)) => "exponential_histogram",
                        Some(Data::Summary(_)) => "summary",
                        None => "empty",
                    };
                    let _ = writeln!(
                        out,
                        "  {} ({ty}, unit {:?}): {} points",
                        m.name,
                        m.unit,
                        metric_points(m)
                    );
                }
            }
        }
        SignalBatch::Logs(rl) => {
            let _ = writeln!(out, "{name}: {} log records", batch.items());
            if verbosity != Verbosity::Basic {
                for r in rl
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .flat_map(|s| &s.log_records)
                {
                    let body = spoor_model::attr::value_to_string(r.body.as_ref());
                    let _ = write!(out, "  {} {body}", r.severity_text);
                    if verbosity == Verbosity::Detailed {
                        for kv in &r.attributes {
                            let _ = write!(
                                out,
                                " {}={}",
                                kv.key,
                                spoor_model::attr::value_to_string(kv.value.as_ref())
                            );
                        }
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl SignalSink for DebugSignals {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        let text = render_signals(&self.name, self.verbosity, &batch);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            .map_err(|e| SinkError::new(ErrorKind::Internal, format!("writing to stdout: {e}")))
    }
}

/// `file` for metrics and logs: an `ExportMetricsServiceRequest` or `ExportLogsServiceRequest`
/// per message, written through the same files as the exporter's spans (as the Collector does).
struct FileSignals {
    sink: Arc<FileSink>,
}

impl FileSignals {
    fn open(config: &FileExporterConfig) -> Result<Self, String> {
        Ok(Self {
            sink: FileSink::shared(config).map_err(|e| e.to_string())?,
        })
    }
}

#[async_trait::async_trait]
impl SignalSink for FileSignals {
    async fn consume(&self, batch: SignalBatch) -> Result<(), SinkError> {
        let written = match batch {
            SignalBatch::Metrics(resource_metrics) => {
                let (groups, _) = self.sink.route(resource_metrics, |r| r.resource.as_ref());
                let groups = groups
                    .into_iter()
                    .map(|(p, resource_metrics)| {
                        (p, ExportMetricsServiceRequest { resource_metrics })
                    })
                    .collect();
                self.sink.write(groups)
            }
            SignalBatch::Logs(resource_logs) => {
                let (groups, _) = self.sink.route(resource_logs, |r| r.resource.as_ref());
                let groups = groups
                    .into_iter()
                    .map(|(p, resource_logs)| (p, ExportLogsServiceRequest { resource_logs }))
                    .collect();
                self.sink.write(groups)
            }
        };
        written.map_err(|e| SinkError::new(ErrorKind::Unavailable, e))
    }
}

#[cfg(test)]
#[path = "signals_tests.rs"]
mod tests;
