//! The standard counters of pipeline components, one naming scheme for all:
//! `spoor_processor_spans_{received,accepted,refused,dropped}_total{pipeline,processor}` and
//! `spoor_exporter_spans_{sent,send_failed,enqueue_failed}_total{exporter}`, plus each
//! exporter's queue (`spoor_exporter_queue_size`, `_queue_capacity`) and retries
//! (`spoor_exporter_retries_total`), and a persistent queue's
//! `spoor_exporter_queue_{recovered,corrupt}_batches_total`.

use prometheus_client::encoding::EncodeLabelSet;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;
use spoor_telemetry::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorLabels {
    pipeline: String,
    processor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExporterLabels {
    exporter: String,
}

/// The metric families of every pipeline component, registered once per process.
#[derive(Clone)]
pub struct PipelineMetrics {
    p_received: Family<ProcessorLabels, Counter>,
    p_accepted: Family<ProcessorLabels, Counter>,
    p_refused: Family<ProcessorLabels, Counter>,
    p_dropped: Family<ProcessorLabels, Counter>,
    e_sent: Family<ExporterLabels, Counter>,
    e_failed: Family<ExporterLabels, Counter>,
    e_enqueue_failed: Family<ExporterLabels, Counter>,
    e_retries: Family<ExporterLabels, Counter>,
    e_queue_size: Family<ExporterLabels, Gauge>,
    e_queue_capacity: Family<ExporterLabels, Gauge>,
    e_queue_recovered: Family<ExporterLabels, Counter>,
    e_queue_corrupt: Family<ExporterLabels, Counter>,
    /// The `tail_sampling` processors' own counters.
    pub(crate) tail: crate::processors::tail_sampling::TailSamplingMetrics,
}

impl PipelineMetrics {
    pub fn register(telemetry: &Telemetry) -> Self {
        let m = Self {
            p_received: Family::default(),
            p_accepted: Family::default(),
            p_refused: Family::default(),
            p_dropped: Family::default(),
            e_sent: Family::default(),
            e_failed: Family::default(),
            e_enqueue_failed: Family::default(),
            e_retries: Family::default(),
            e_queue_size: Family::default(),
            e_queue_capacity: Family::default(),
            e_queue_recovered: Family::default(),
            e_queue_corrupt: Family::default(),
            tail: crate::processors::tail_sampling::TailSamplingMetrics::register(telemetry),
        };
        let t = telemetry;
        t.register(
            "processor_spans_received",
            "Spans handed to a processor",
            m.p_received.clone(),
        );
        t.register(
            "processor_spans_accepted",
            "Spans a processor passed on and that were accepted downstream",
            m.p_accepted.clone(),
        );
        t.register(
            "processor_spans_refused",
            "Spans refused by a processor or downstream, with an error to the sender",
            m.p_refused.clone(),
        );
        t.register(
            "processor_spans_dropped",
            "Spans a processor removed on purpose (filtered, sampled out)",
            m.p_dropped.clone(),
        );
        t.register(
            "exporter_spans_sent",
            "Spans an exporter delivered",
            m.e_sent.clone(),
        );
        t.register(
            "exporter_spans_send_failed",
            "Spans an exporter gave up on after its retries",
            m.e_failed.clone(),
        );
        t.register(
            "exporter_spans_enqueue_failed",
            "Spans not queued because an exporter's queue was full",
            m.e_enqueue_failed.clone(),
        );
        t.register(
            "exporter_retries",
            "Export attempts retried after a retryable failure",
            m.e_retries.clone(),
        );
        t.register(
            "exporter_queue_size",
            "Batches waiting in an exporter's sending queue",
            m.e_queue_size.clone(),
        );
        t.register(
            "exporter_queue_capacity",
            "Capacity of an exporter's sending queue, in batches",
            m.e_queue_capacity.clone(),
        );
        t.register(
            "exporter_queue_recovered_batches",
            "Batches a persistent sending queue found on disk at start and sends again",
            m.e_queue_recovered.clone(),
        );
        t.register(
            "exporter_queue_corrupt_batches",
            "Batches of a persistent sending queue that failed their checksum at start (set aside)",
            m.e_queue_corrupt.clone(),
        );
        m
    }

    pub fn processor(&self, pipeline: &str, processor: &str) -> ProcessorCounters {
        let l = ProcessorLabels {
            pipeline: pipeline.to_string(),
            processor: processor.to_string(),
        };
        ProcessorCounters {
            received: self.p_received.get_or_create(&l).clone(),
            accepted: self.p_accepted.get_or_create(&l).clone(),
            refused: self.p_refused.get_or_create(&l).clone(),
            dropped: self.p_dropped.get_or_create(&l).clone(),
        }
    }

    pub fn exporter(&self, exporter: &str) -> ExporterCounters {
        let l = ExporterLabels {
            exporter: exporter.to_string(),
        };
        ExporterCounters {
            sent: self.e_sent.get_or_create(&l).clone(),
            send_failed: self.e_failed.get_or_create(&l).clone(),
            enqueue_failed: self.e_enqueue_failed.get_or_create(&l).clone(),
            retries: self.e_retries.get_or_create(&l).clone(),
            queue_size: self.e_queue_size.get_or_create(&l).clone(),
            queue_capacity: self.e_queue_capacity.get_or_create(&l).clone(),
            queue_recovered: self.e_queue_recovered.get_or_create(&l).clone(),
            queue_corrupt: self.e_queue_corrupt.get_or_create(&l).clone(),
        }
    }
}

#[derive(Clone)]
pub struct ProcessorCounters {
    pub received: Counter,
    pub accepted: Counter,
    pub refused: Counter,
    pub dropped: Counter,
}

#[derive(Clone)]
pub struct ExporterCounters {
    pub sent: Counter,
    pub send_failed: Counter,
    pub enqueue_failed: Counter,
    pub retries: Counter,
    pub queue_size: Gauge,
    pub queue_capacity: Gauge,
    pub queue_recovered: Counter,
    pub queue_corrupt: Counter,
}

/// The counters of one signal (metric points or log records) of one exporter.
#[derive(Clone)]
pub struct SignalCounters {
    pub sent: Counter,
    pub send_failed: Counter,
    pub enqueue_failed: Counter,
}

/// An exporter's counters in metrics and logs pipelines:
/// `spoor_exporter_{metric_points,log_records}_{sent,send_failed,enqueue_failed}_total{exporter}`,
/// with the spans' `spoor_exporter_retries_total` and `spoor_exporter_queue_size`.
#[derive(Clone)]
pub struct SignalExporterCounters {
    pub metrics: SignalCounters,
    pub logs: SignalCounters,
    pub retries: Counter,
    pub queue_size: Gauge,
}

impl SignalExporterCounters {
    /// The counters of `batch`'s signal.
    pub fn of(&self, batch: &spoor_receivers::SignalBatch) -> &SignalCounters {
        match batch {
            spoor_receivers::SignalBatch::Metrics(_) => &self.metrics,
            spoor_receivers::SignalBatch::Logs(_) => &self.logs,
        }
    }
}

/// The metric families of exporters in metrics and logs pipelines, registered once per graph.
#[derive(Clone)]
pub struct SignalExporterMetrics {
    families: [[Family<ExporterLabels, Counter>; 3]; 2],
    retries: Family<ExporterLabels, Counter>,
    queue_size: Family<ExporterLabels, Gauge>,
}

impl SignalExporterMetrics {
    /// Registers the metric-point and log-record families; `retries` and `queue_size` are the
    /// spans' families (shared names, one series per exporter).
    pub fn register(telemetry: &Telemetry, spans: &PipelineMetrics) -> Self {
        let m = Self {
            families: Default::default(),
            retries: spans.e_retries.clone(),
            queue_size: spans.e_queue_size.clone(),
        };
        for (signal, what) in [
            ("metric_points", "Metric data points"),
            ("log_records", "Log records"),
        ] {
            let i = usize::from(signal == "log_records");
            for (j, (suffix, help)) in [
                ("sent", "an exporter delivered"),
                ("send_failed", "an exporter gave up on after its retries"),
                (
                    "enqueue_failed",
                    "not queued because an exporter's queue was full",
                ),
            ]
            .into_iter()
            .enumerate()
            {
                telemetry.register(
                    &format!("exporter_{signal}_{suffix}"),
                    &format!("{what} {help}"),
                    m.families[i][j].clone(),
                );
            }
        }
        m
    }

    pub fn exporter(&self, exporter: &str) -> SignalExporterCounters {
        let l = ExporterLabels {
            exporter: exporter.to_string(),
        };
        let of = |i: usize| SignalCounters {
            sent: self.families[i][0].get_or_create(&l).clone(),
            send_failed: self.families[i][1].get_or_create(&l).clone(),
            enqueue_failed: self.families[i][2].get_or_create(&l).clone(),
        };
        SignalExporterCounters {
            metrics: of(0),
            logs: of(1),
            retries: self.retries.get_or_create(&l).clone(),
            queue_size: self.queue_size.get_or_create(&l).clone(),
        }
    }
}
