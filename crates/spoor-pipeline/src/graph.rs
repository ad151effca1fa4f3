//! Pipeline assembly: from a validated [`Config`] to running sinks.
//!
//! ```text
//! receiver ─► fan-out to the pipelines that list it
//!   pipeline: processor → processor → … → fan-out to its exporters
//!     synchronous (spoor store, debug, file, a queue-less forwarder, a connector): awaited;
//!       the client is acknowledged when they all succeeded
//!     queued (otlp, otlphttp): handed to the exporter's bounded queue without waiting
//! ```
//!
//! When a pipeline has a synchronous exporter, a full queue of a forwarding exporter is counted
//! and logged but does not refuse the batch (the store has it). When every exporter is queued,
//! a full queue refuses the batch as overloaded so the client retries.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use spoor_model::{ErrorKind, ResourceSpans, SinkError, TraceSink, span_count};
use spoor_telemetry::Telemetry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::batch::Batcher;
use crate::config::{ComponentId, Config, Signal};
use crate::connectors::{
    Red, ServiceGraphConnector, SpanMetricsConfig, SpanMetricsConnector, TraceMetricsConfig,
};
use crate::entry::Entry;
use crate::exporters::{
    DebugExporter, DiskQueue, ExportError, Exporter, FileExporter, JaegerExporter,
    OtlpExporterConfig, OtlpGrpcExporter, OtlpHttpExporter, OtlpHttpExporterConfig, QueuedExporter,
    RetrySettings, SendingQueue, ZipkinExporter, send_with_retry,
};
use crate::extensions::FileStorageConfig;
use crate::memory_limiter::MemoryLimiter;
use crate::metrics::{ExporterCounters, PipelineMetrics, ProcessorCounters};
use crate::processors::tail_sampling::TailSampler;
use crate::registry::{Kind, Spec};
use crate::signals::{NoTracesPipeline, SignalBuilder};
use crate::{ConfigError, ProcessError, SpanProcessor};
use spoor_receivers::SignalSinks;

/// What assembly needs from the binary.
pub struct BuildContext {
    pub telemetry: Telemetry,
    pub shutdown: CancellationToken,
    /// The embedded store, for the `spoor` exporter.
    pub store: Option<Arc<dyn TraceSink>>,
    /// The process's RSS sampler (`--memory-limit`); `memory_limiter` reads its samples.
    pub memory: Option<spoor_telemetry::MemoryLimiter>,
    /// Where the `spoor` exporter's RED snapshots go, for the Monitor API (`/api/metrics/*`).
    pub monitor: Option<Arc<spoor_query::monitor::MonitorStore>>,
    /// Where the `spoor` exporter's service graph counts its edges per minute, for
    /// `/api/dependencies`.
    pub dependencies: Option<Arc<spoor_query::dependencies::DependencyStore>>,
    /// With tenancy on, the tenant header (`--tenancy-header`) the `otlp`, `otlphttp` and
    /// `loadbalancing` exporters send each span's `spoor.tenant` attribute as.
    pub tenant_header: Option<String>,
}

/// Why the graph could not be built (a file that cannot be opened, a missing store).
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct BuildError {
    pub component: String,
    pub message: String,
}

/// The running pipelines.
pub struct Graph {
    /// The sink of every receiver used by a pipeline: the pipeline's entry (validation), then its
    /// traces pipelines (a receiver used only by metrics or logs pipelines gets a sink that drops
    /// spans with a warning).
    pub receivers: Vec<(ComponentId, Arc<dyn TraceSink>)>,
    /// The metrics and logs sinks of the receivers used by metrics or logs pipelines.
    pub signals: BTreeMap<ComponentId, SignalSinks>,
    /// Listeners opened by exporters (`prometheus`): name and bound address.
    pub endpoints: Vec<(String, std::net::SocketAddr)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Graph {
    /// Builds every pipeline of `config`: traces here, metrics and logs in `signals.rs`.
    pub fn build(config: &Config, ctx: &BuildContext) -> Result<Self, BuildError> {
        let metrics = PipelineMetrics::register(&ctx.telemetry);
        let mut signal_builder = SignalBuilder::new(config, ctx, &metrics);
        let signals = signal_builder.build()?;
        let mut b = Builder {
            config,
            ctx,
            metrics,
            exporters: BTreeMap::new(),
            pipelines: BTreeMap::new(),
            tasks: Vec::new(),
            signals: signal_builder,
        };
        let traces: Vec<usize> = config
            .service
            .pipelines
            .iter()
            .enumerate()
            .filter(|(_, p)| p.id.signal == Signal::Traces)
            .map(|(i, _)| i)
            .collect();
        let mut by_receiver: BTreeMap<ComponentId, Vec<Arc<dyn TraceSink>>> = BTreeMap::new();
        for &i in &traces {
            let sink = b.pipeline(i)?;
            for r in &config.service.pipelines[i].receivers {
                if config.component(Kind::Receiver, r).is_some() {
                    by_receiver.entry(r.clone()).or_default().push(sink.clone());
                }
            }
        }
        b.tasks.append(&mut b.signals.tasks);
        let endpoints = std::mem::take(&mut b.signals.endpoints);
        for id in signals.keys() {
            by_receiver.entry(id.clone()).or_insert_with(|| {
                let drop: Arc<dyn TraceSink> = Arc::new(NoTracesPipeline {
                    receiver: id.to_string(),
                    warned: Default::default(),
                });
                vec![drop]
            });
        }
        let receivers = by_receiver
            .into_iter()
            .map(|(id, sinks)| (id, Arc::new(Entry(fan_out(sinks))) as Arc<dyn TraceSink>))
            .collect();
        Ok(Self {
            receivers,
            signals,
            endpoints,
            tasks: b.tasks,
        })
    }

    /// The metrics and logs sinks of receiver `id` (none: it is in no such pipeline).
    pub fn signal_sinks(&self, id: &ComponentId) -> SignalSinks {
        self.signals.get(id).cloned().unwrap_or_default()
    }

    /// Waits, up to `timeout`, for the exporters' queues to drain once every receiver has
    /// stopped and the receiver sinks were dropped. Returns whether they drained.
    pub async fn drain(self, timeout: std::time::Duration) -> bool {
        drop(self.receivers);
        drop(self.signals);
        tokio::time::timeout(timeout, join_all(self.tasks))
            .await
            .is_ok()
    }
}

struct Builder<'a> {
    config: &'a Config,
    ctx: &'a BuildContext,
    metrics: PipelineMetrics,
    exporters: BTreeMap<ComponentId, Target>,
    pipelines: BTreeMap<usize, Arc<dyn TraceSink>>,
    tasks: Vec<JoinHandle<()>>,
    /// The metrics pipelines, for connectors from traces to metrics (`spanmetrics`).
    signals: SignalBuilder<'a>,
}

#[derive(Clone)]
enum Target {
    Sync(Arc<dyn TraceSink>),
    Queued(String, Arc<QueuedExporter>),
}

fn build_error(id: &ComponentId, kind: Kind, e: impl std::fmt::Display) -> BuildError {
    BuildError {
        component: format!("{}.{id}", kind.section()),
        message: e.to_string(),
    }
}

impl<'a> Builder<'a> {
    /// The entry sink of pipeline `i`, built once (connectors may reach it from several places).
    fn pipeline(&mut self, i: usize) -> Result<Arc<dyn TraceSink>, BuildError> {
        if let Some(s) = self.pipelines.get(&i) {
            return Ok(s.clone());
        }
        let spec = &self.config.service.pipelines[i];
        let pipeline_name = spec.id.to_string();
        let mut targets = Vec::new();
        for e in &spec.exporters {
            targets.push(self.exporter_or_connector(e)?);
        }
        let mut next: Arc<dyn TraceSink> = Arc::new(ExporterFanout::new(targets));
        for p in spec.processors.iter().rev() {
            let component = self
                .config
                .component(Kind::Processor, p)
                .ok_or_else(|| build_error(p, Kind::Processor, "not defined"))?;
            let counters = self.metrics.processor(&pipeline_name, &p.to_string());
            next = match &component.spec {
                Spec::Batch(c) => counted(counters, Arc::new(Batcher::start(c, next))),
                Spec::MemoryLimiter(c) => counted(
                    counters,
                    Arc::new(MemoryLimiter::start(
                        c,
                        next,
                        self.ctx.shutdown.clone(),
                        self.ctx.memory.clone(),
                    )),
                ),
                Spec::TailSampling(c) => {
                    let policies = c
                        .build_policies()
                        .map_err(|e| build_error(p, Kind::Processor, e))?;
                    let names: Vec<&str> = policies.iter().map(|(n, _)| n.as_str()).collect();
                    let tail = self
                        .metrics
                        .tail
                        .counters(&pipeline_name, &p.to_string(), &names);
                    let (sampler, task) =
                        TailSampler::start(c, policies, tail, counters.dropped.clone(), next);
                    self.tasks.push(task);
                    counted(counters, Arc::new(sampler))
                }
                Spec::SpanProcessor(processor) => Arc::new(SyncStage {
                    processor: processor.clone(),
                    counters,
                    next,
                }),
                _ => return Err(build_error(p, Kind::Processor, "not a processor")),
            };
        }
        self.pipelines.insert(i, next.clone());
        Ok(next)
    }

    fn exporter_or_connector(&mut self, id: &ComponentId) -> Result<Target, BuildError> {
        if let Some(c) = self.config.component(Kind::Connector, id) {
            if let Spec::SpanMetrics(config) = &c.spec {
                return self.metrics_connector(id, "spanmetrics", |downstream, shutdown| {
                    let (c, task) = SpanMetricsConnector::start(config, downstream, shutdown);
                    (Arc::new(c), task)
                });
            }
            if let Spec::ServiceGraph(config) = &c.spec {
                return self.metrics_connector(id, "servicegraph", |downstream, shutdown| {
                    let (c, task) = ServiceGraphConnector::start(config, downstream, shutdown);
                    (Arc::new(c), task)
                });
            }
            // `forward`: the pipelines receiving from this connector, as one sink.
            if !matches!(c.spec, Spec::Forward) {
                return Err(build_error(id, Kind::Connector, "not a connector"));
            }
            let downstream: Vec<usize> = self
                .config
                .service
                .pipelines
                .iter()
                .enumerate()
                .filter(|(_, p)| p.receivers.contains(id) && p.id.signal == Signal::Traces)
                .map(|(j, _)| j)
                .collect();
            let mut sinks = Vec::new();
            for j in downstream {
                sinks.push(self.pipeline(j)?);
            }
            return Ok(Target::Sync(fan_out(sinks)));
        }
        if let Some(t) = self.exporters.get(id) {
            return Ok(t.clone());
        }
        let component = self
            .config
            .component(Kind::Exporter, id)
            .ok_or_else(|| build_error(id, Kind::Exporter, "not defined"))?;
        let name = id.to_string();
        let counters = self.metrics.exporter(&name);
        let err = |e: ConfigError| build_error(id, Kind::Exporter, e);
        let target = match &component.spec {
            Spec::SpoorExporter(c) => {
                let store = self.ctx.store.clone().ok_or_else(|| {
                    build_error(id, Kind::Exporter, "the embedded store is not available")
                })?;
                let spans = SpanMetricsConfig {
                    aggregation_cardinality_limit: c.metrics_cardinality_limit,
                    ..SpanMetricsConfig::default()
                };
                let traces = TraceMetricsConfig {
                    idle: c.trace_idle_period.get(),
                    ..TraceMetricsConfig::default()
                };
                let (red, task) = Red::start(
                    &self.ctx.telemetry,
                    self.ctx.shutdown.clone(),
                    spans,
                    traces,
                    self.ctx.monitor.clone(),
                    self.ctx.dependencies.clone(),
                );
                self.tasks.push(task);
                Target::Sync(red.sink(Arc::new(StoreTarget { store, counters })))
            }
            Spec::Debug(c) => self.direct(
                name.clone(),
                Arc::new(DebugExporter::new(name, c)),
                counters,
            ),
            Spec::FileExporter(c) => {
                let exporter = FileExporter::open(c).map_err(err)?;
                self.direct(name, Arc::new(exporter), counters)
            }
            Spec::OtlpExporter(c) => {
                let c = &OtlpExporterConfig {
                    tenant_header: self.ctx.tenant_header.clone(),
                    ..c.clone()
                };
                let exporter = OtlpGrpcExporter::new(c).map_err(err)?;
                self.forwarding(
                    name,
                    Arc::new(exporter),
                    &c.sending_queue,
                    &c.retry_on_failure,
                    counters,
                )
                .map_err(err)?
            }
            Spec::LoadBalancing(c) => {
                let mut c = c.clone();
                c.protocol.otlp.tenant_header = self.ctx.tenant_header.clone();
                let (lb, tasks) =
                    crate::exporters::LoadBalancer::start(name, &c, self.metrics.clone())
                        .map_err(err)?;
                self.tasks.extend(tasks);
                Target::Sync(lb)
            }
            Spec::OtlpHttpExporter(c) => {
                let c = &OtlpHttpExporterConfig {
                    tenant_header: self.ctx.tenant_header.clone(),
                    ..c.clone()
                };
                let exporter = OtlpHttpExporter::new(c).map_err(err)?;
                self.forwarding(
                    name,
                    Arc::new(exporter),
                    &c.sending_queue,
                    &c.retry_on_failure,
                    counters,
                )
                .map_err(err)?
            }
            Spec::ZipkinExporter(c) => {
                let exporter = ZipkinExporter::new(c).map_err(err)?;
                self.forwarding(
                    name,
                    Arc::new(exporter),
                    &c.sending_queue,
                    &c.retry_on_failure,
                    counters,
                )
                .map_err(err)?
            }
            Spec::JaegerExporter(c) => {
                let exporter = JaegerExporter::new(c).map_err(err)?;
                self.forwarding(
                    name,
                    Arc::new(exporter),
                    &c.sending_queue,
                    &c.retry_on_failure,
                    counters,
                )
                .map_err(err)?
            }
            _ => {
                return Err(build_error(
                    id,
                    Kind::Exporter,
                    "has no runtime in this build",
                ));
            }
        };
        self.exporters.insert(id.clone(), target.clone());
        Ok(target)
    }

    /// A connector from traces to metrics (`spanmetrics`, `servicegraph`): aggregates the spans
    /// it gets; its flush task feeds the metrics pipelines that list it as a receiver.
    fn metrics_connector(
        &mut self,
        id: &ComponentId,
        kind: &str,
        start: impl FnOnce(
            Arc<dyn spoor_receivers::SignalSink>,
            CancellationToken,
        ) -> (Arc<dyn TraceSink>, JoinHandle<()>),
    ) -> Result<Target, BuildError> {
        if let Some(t) = self.exporters.get(id) {
            return Ok(t.clone());
        }
        let downstream: Vec<usize> = self
            .config
            .service
            .pipelines
            .iter()
            .enumerate()
            .filter(|(_, p)| p.receivers.contains(id) && p.id.signal == Signal::Metrics)
            .map(|(j, _)| j)
            .collect();
        if downstream.is_empty() {
            return Err(build_error(
                id,
                Kind::Connector,
                format!("{kind} must be a receiver of a metrics pipeline"),
            ));
        }
        let mut sinks = Vec::new();
        for j in downstream {
            sinks.push(self.signals.pipeline(j)?);
        }
        let (connector, task) = start(crate::signals::fan_out(sinks), self.ctx.shutdown.clone());
        self.tasks.push(task);
        let target = Target::Sync(connector);
        self.exporters.insert(id.clone(), target.clone());
        Ok(target)
    }

    /// An exporter called in line, without retries (debug, file).
    fn direct(
        &self,
        name: String,
        exporter: Arc<dyn Exporter>,
        counters: ExporterCounters,
    ) -> Target {
        let retry = RetrySettings {
            enabled: false,
            ..RetrySettings::default()
        };
        Target::Sync(Arc::new(RetryTarget {
            name,
            exporter,
            retry,
            counters,
        }))
    }

    fn forwarding(
        &mut self,
        name: String,
        exporter: Arc<dyn Exporter>,
        queue: &SendingQueue,
        retry: &RetrySettings,
        counters: ExporterCounters,
    ) -> Result<Target, ConfigError> {
        if !queue.enabled {
            let retry = retry.clone();
            return Ok(Target::Sync(Arc::new(RetryTarget {
                name,
                exporter,
                retry,
                counters,
            })));
        }
        let disk = match &queue.storage {
            Some(storage) => {
                let config = self.storage_extension(storage)?;
                let opened = DiskQueue::open(config, &name)
                    .map_err(|e| ConfigError::new("sending_queue.storage", e))?;
                Some(opened)
            }
            None => None,
        };
        let (queued, tasks) =
            QueuedExporter::start(name.clone(), exporter, queue, retry.clone(), counters, disk);
        self.tasks.extend(tasks);
        Ok(Target::Queued(name, Arc::new(queued)))
    }

    /// The `file_storage` extension a persistent queue names; it must be enabled in
    /// `service.extensions`, as the Collector requires.
    fn storage_extension(&self, storage: &str) -> Result<&FileStorageConfig, ConfigError> {
        let path = "sending_queue.storage";
        let id = ComponentId::parse(storage).map_err(|e| ConfigError::new(path, e))?;
        let Some(component) = self.config.component(Kind::Extension, &id) else {
            return Err(ConfigError::new(
                path,
                format!("storage extension {id} is not defined under extensions"),
            ));
        };
        let Spec::FileStorage(config) = &component.spec else {
            return Err(ConfigError::new(
                path,
                format!("extension {id} is not a storage extension (use file_storage)"),
            ));
        };
        if !self.config.service.extensions.contains(&id) {
            return Err(ConfigError::new(
                path,
                format!("storage extension {id} is not enabled: add it to service.extensions"),
            ));
        }
        Ok(config)
    }
}

/// One sink feeding several: each gets a copy; the result is the first error.
fn fan_out(mut sinks: Vec<Arc<dyn TraceSink>>) -> Arc<dyn TraceSink> {
    if sinks.len() == 1
        && let Some(only) = sinks.pop()
    {
        return only;
    }
    Arc::new(FanOut(sinks))
}

struct FanOut(Vec<Arc<dyn TraceSink>>);

/// Hands `batch` to every sink concurrently: copies for all but the last, which takes it.
async fn consume_all(
    sinks: &[Arc<dyn TraceSink>],
    batch: Vec<ResourceSpans>,
) -> Result<(), SinkError> {
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

#[async_trait::async_trait]
impl TraceSink for FanOut {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        consume_all(&self.0, batch).await
    }
}

/// The end of a pipeline: synchronous targets awaited together, queued ones fed without waiting.
struct ExporterFanout {
    sync: Vec<Arc<dyn TraceSink>>,
    queued: Vec<(String, Arc<QueuedExporter>)>,
}

impl ExporterFanout {
    fn new(targets: Vec<Target>) -> Self {
        let mut sync = Vec::new();
        let mut queued = Vec::new();
        for t in targets {
            match t {
                Target::Sync(s) => sync.push(s),
                Target::Queued(n, q) => queued.push((n, q)),
            }
        }
        Self { sync, queued }
    }
}

#[async_trait::async_trait]
impl TraceSink for ExporterFanout {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let mut full = Vec::new();
        for (name, q) in &self.queued {
            if !q.enqueue(batch.clone()).await {
                full.push(name.as_str());
            }
        }
        if self.sync.is_empty() {
            if full.is_empty() {
                return Ok(());
            }
            return Err(SinkError::new(
                ErrorKind::Overloaded,
                format!(
                    "the sending queue of exporter {} is full; retry later",
                    full.join(", ")
                ),
            ));
        }
        if !full.is_empty() {
            tracing::warn!(exporters = %full.join(","), spans = span_count(&batch), "sending queue full: spans not forwarded");
        }
        consume_all(&self.sync, batch).await
    }
}

/// The `spoor` exporter: the store's own sink, counted.
struct StoreTarget {
    store: Arc<dyn TraceSink>,
    counters: ExporterCounters,
}

#[async_trait::async_trait]
impl TraceSink for StoreTarget {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let spans = span_count(&batch) as u64;
        let result = self.store.consume(batch).await;
        match &result {
            Ok(()) => self.counters.sent.inc_by(spans),
            Err(_) => self.counters.send_failed.inc_by(spans),
        };
        result
    }
}

/// An exporter awaited by the pipeline (with its retries, if enabled).
struct RetryTarget {
    name: String,
    exporter: Arc<dyn Exporter>,
    retry: RetrySettings,
    counters: ExporterCounters,
}

#[async_trait::async_trait]
impl TraceSink for RetryTarget {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        send_with_retry(
            &self.name,
            self.exporter.as_ref(),
            batch,
            &self.retry,
            &self.counters,
        )
        .await
        .map_err(|e: ExportError| {
            let kind = if e.retryable {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            SinkError::new(kind, format!("exporter {}: {e}", self.name))
        })
    }
}

/// Counts spans in and the outcome around a stateful processor.
struct Counted {
    counters: ProcessorCounters,
    inner: Arc<dyn TraceSink>,
}

fn counted(counters: ProcessorCounters, inner: Arc<dyn TraceSink>) -> Arc<dyn TraceSink> {
    Arc::new(Counted { counters, inner })
}

#[async_trait::async_trait]
impl TraceSink for Counted {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let spans = span_count(&batch) as u64;
        self.counters.received.inc_by(spans);
        let result = self.inner.consume(batch).await;
        match &result {
            Ok(()) => self.counters.accepted.inc_by(spans),
            Err(_) => self.counters.refused.inc_by(spans),
        };
        result
    }
}

/// A synchronous processor in a pipeline.
struct SyncStage {
    processor: Arc<dyn SpanProcessor>,
    counters: ProcessorCounters,
    next: Arc<dyn TraceSink>,
}

#[async_trait::async_trait]
impl TraceSink for SyncStage {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let spans = span_count(&batch) as u64;
        self.counters.received.inc_by(spans);
        let out = match self.processor.process(batch) {
            Ok(out) => out,
            Err(ProcessError(message)) => {
                self.counters.refused.inc_by(spans);
                return Err(SinkError::new(ErrorKind::InvalidInput, message));
            }
        };
        let kept = span_count(&out) as u64;
        self.counters.dropped.inc_by(spans.saturating_sub(kept));
        if kept == 0 {
            return Ok(());
        }
        let result = self.next.consume(out).await;
        match &result {
            Ok(()) => self.counters.accepted.inc_by(kept),
            Err(_) => self.counters.refused.inc_by(kept),
        };
        result
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
