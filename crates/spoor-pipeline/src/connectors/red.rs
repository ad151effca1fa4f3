//! RED metrics at ingest: the span and trace aggregators in front of a sink, rendered on the
//! admin port's `/metrics`; and the `spanmetrics` connector's sink and flush task.

use std::sync::Arc;
use std::time::Instant;

use spoor_model::{ResourceSpans, SinkError, TraceSink};
use spoor_query::dependencies::DependencyStore;
use spoor_query::monitor::MonitorStore;
use spoor_receivers::{SignalBatch, SignalSink};
use spoor_telemetry::Telemetry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::servicegraph::{ServiceGraph, ServiceGraphConfig};
use super::spanmetrics::{SpanMetrics, SpanMetricsConfig};
use super::trace_metrics::{TraceMetrics, TraceMetricsConfig};

/// The aggregators behind `/metrics`' RED and trace families.
pub struct Red {
    pub spans: SpanMetrics,
    pub traces: TraceMetrics,
    pub graph: ServiceGraph,
}

impl Red {
    /// Registers the families on `telemetry` and starts the task that completes idle traces
    /// (it stops on `shutdown`).
    /// With `monitor`, a snapshot of the span series is recorded every `monitor.step()` for
    /// the Monitor API; with `dependencies`, the service graph's edges are counted there per
    /// minute for `/api/dependencies`.
    pub fn start(
        telemetry: &Telemetry,
        shutdown: CancellationToken,
        spans: SpanMetricsConfig,
        traces: TraceMetricsConfig,
        monitor: Option<Arc<MonitorStore>>,
        dependencies: Option<Arc<DependencyStore>>,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let mut graph = ServiceGraph::new(ServiceGraphConfig::default());
        if let Some(d) = dependencies {
            graph = graph.with_dependencies(d);
        }
        let red = Arc::new(Self {
            spans: SpanMetrics::new(spans),
            traces: TraceMetrics::new(traces),
            graph,
        });
        let weak = Arc::downgrade(&red);
        telemetry.add_renderer(Arc::new(move |registry: &str, out: &mut String| {
            if let Some(red) = weak.upgrade() {
                red.spans.render(out);
                red.traces.render(registry, out);
                red.graph.render(out);
            }
        }));
        let mut period = (red.traces.idle() / 4)
            .min(std::time::Duration::from_millis(500))
            .max(std::time::Duration::from_millis(100));
        if let Some(m) = &monitor {
            period = period
                .min(m.step())
                .max(std::time::Duration::from_millis(10));
        }
        let mut last_snapshot: Option<Instant> = None;
        let weak = Arc::downgrade(&red);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match weak.upgrade() {
                    Some(red) => {
                        red.traces.sweep(Instant::now());
                        red.graph.expire(Instant::now());
                        if let Some(m) = &monitor
                            && last_snapshot.is_none_or(|t| t.elapsed() >= m.step())
                        {
                            last_snapshot = Some(Instant::now());
                            let (bounds, points) = red.spans.red_points();
                            m.record(unix_ms(), &bounds, points);
                        }
                    }
                    None => break,
                }
            }
        });
        (red, task)
    }

    /// The sink that counts what `next` accepted.
    pub fn sink(self: &Arc<Self>, next: Arc<dyn TraceSink>) -> Arc<dyn TraceSink> {
        Arc::new(RedSink {
            red: self.clone(),
            next,
        })
    }
}

/// Counts a batch once `next` accepted it (a refused batch is retried by the client).
pub struct RedSink {
    red: Arc<Red>,
    next: Arc<dyn TraceSink>,
}

#[async_trait::async_trait]
impl TraceSink for RedSink {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let spans = self.red.spans.prepare(&batch);
        let traces = self.red.traces.prepare(&batch);
        let edges = self.red.graph.prepare(&batch);
        self.next.consume(batch).await?;
        let now = Instant::now();
        self.red.spans.apply(spans);
        self.red.traces.apply(traces, now);
        self.red.graph.apply(edges, now);
        Ok(())
    }
}

/// `spanmetrics` as the exporter of a traces pipeline: aggregates, and every
/// `metrics_flush_interval` hands the cumulative series to the metrics pipelines.
pub(crate) struct SpanMetricsConnector {
    metrics: Arc<SpanMetrics>,
}

impl SpanMetricsConnector {
    pub(crate) fn start(
        config: &SpanMetricsConfig,
        downstream: Arc<dyn SignalSink>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let metrics = Arc::new(SpanMetrics::new(config.clone()));
        let interval = config.metrics_flush_interval.get();
        let flushing = metrics.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                let stop = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tick.tick() => false,
                };
                let batch = flushing.to_otlp();
                if !batch.is_empty()
                    && let Err(e) = downstream.consume(SignalBatch::Metrics(batch)).await
                {
                    tracing::warn!(error = %e, "spanmetrics: the metrics pipeline refused the flush");
                }
                if stop {
                    break;
                }
            }
        });
        (Self { metrics }, task)
    }
}

#[async_trait::async_trait]
impl TraceSink for SpanMetricsConnector {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let observations = self.metrics.prepare(&batch);
        self.metrics.apply(observations);
        Ok(())
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
