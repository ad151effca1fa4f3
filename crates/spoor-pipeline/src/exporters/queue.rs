//! The sending queue and retries of forwarding exporters, as the Collector's `exporterhelper`:
//! a bounded queue of batches (`sending_queue.queue_size`) drained by `num_consumers` tasks,
//! each attempt retried on retryable failures with exponential backoff
//! (`retry_on_failure`). A full queue refuses the batch at once instead of blocking the pipeline.
//! With `storage: file_storage[/name]` the queue is also kept on disk (`persistent_queue`).

use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use spoor_model::{ResourceSpans, span_count};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::persistent_queue::{DiskQueue, Opened};
use super::{ExportError, Exporter};
use crate::ConfigError;
use crate::config::Duration;
use crate::metrics::ExporterCounters;

/// `sending_queue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingQueue {
    /// Without a queue, the pipeline waits for the export (with its retries) to finish.
    pub enabled: bool,
    /// Tasks sending from the queue concurrently.
    pub num_consumers: usize,
    /// Batches the queue holds; when full, new batches are refused.
    pub queue_size: usize,
    /// A `file_storage` extension (`file_storage[/name]`, listed in `service.extensions`)
    /// that keeps the queue on disk, so queued batches survive a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

impl Default for SendingQueue {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            storage: None,
        }
    }
}

impl SendingQueue {
    pub(crate) fn check(&self, errors: &mut Vec<ConfigError>) {
        if let Some(id) = &self.storage
            && let Err(e) = crate::config::ComponentId::parse(id)
        {
            errors.push(ConfigError::new("sending_queue.storage", e));
        }
        if self.enabled && self.queue_size == 0 {
            errors.push(ConfigError::new(
                "sending_queue.queue_size",
                "must be greater than 0",
            ));
        }
        if self.enabled && self.num_consumers == 0 {
            errors.push(ConfigError::new(
                "sending_queue.num_consumers",
                "must be greater than 0",
            ));
        }
    }
}

/// `retry_on_failure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    /// Wait before the first retry.
    pub initial_interval: Duration,
    /// Each wait is multiplied by a random factor in `1 ± randomization_factor`.
    pub randomization_factor: f64,
    /// Growth of the wait between retries.
    pub multiplier: f64,
    /// Longest wait between retries.
    pub max_interval: Duration,
    /// Give up on a batch after this long; 0 means never.
    pub max_elapsed_time: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl RetrySettings {
    pub(crate) fn check(&self, errors: &mut Vec<ConfigError>) {
        if !(0.0..1.0).contains(&self.randomization_factor) {
            errors.push(ConfigError::new(
                "retry_on_failure.randomization_factor",
                "must be in [0, 1)",
            ));
        }
        if self.multiplier < 1.0 {
            errors.push(ConfigError::new(
                "retry_on_failure.multiplier",
                "must be at least 1",
            ));
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `retry` gives up; counts retries.
/// Returns the last error when it gives up.
pub(crate) async fn retrying<F, Fut>(
    name: &str,
    retry: &RetrySettings,
    retries: &spoor_telemetry::metrics::counter::Counter,
    mut attempt: F,
) -> Result<(), ExportError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ExportError>>,
{
    let started = tokio::time::Instant::now();
    let mut wait = retry.initial_interval.get();
    loop {
        let Err(e) = attempt().await else {
            return Ok(());
        };
        let max_elapsed = retry.max_elapsed_time.get();
        let jitter = if retry.randomization_factor > 0.0 {
            rand::rng()
                .random_range(1.0 - retry.randomization_factor..1.0 + retry.randomization_factor)
        } else {
            1.0
        };
        let backoff = wait.mul_f64(jitter);
        let out_of_time = !max_elapsed.is_zero() && started.elapsed() + backoff > max_elapsed;
        if !e.retryable || !retry.enabled || out_of_time {
            return Err(e);
        }
        tracing::warn!(exporter = name, error = %e, retry_in = ?backoff, "export failed; will retry");
        retries.inc();
        tokio::time::sleep(backoff).await;
        wait = wait.mul_f64(retry.multiplier).min(retry.max_interval.get());
    }
}

/// Sends a batch, retrying retryable failures as `retry` says; counts sent, failed and retries.
pub async fn send_with_retry(
    name: &str,
    exporter: &dyn Exporter,
    batch: Vec<ResourceSpans>,
    retry: &RetrySettings,
    counters: &ExporterCounters,
) -> Result<(), ExportError> {
    let spans = span_count(&batch) as u64;
    let result = retrying(name, retry, &counters.retries, || {
        exporter.export(batch.clone())
    })
    .await;
    match &result {
        Ok(()) => {
            counters.sent.inc_by(spans);
        }
        Err(e) => {
            counters.send_failed.inc_by(spans);
            tracing::error!(exporter = name, spans, error = %e, retryable = e.retryable, "export failed; spans dropped");
        }
    }
    result
}

/// One queued batch; `seq` is its file number in a persistent queue.
struct Item {
    batch: Vec<ResourceSpans>,
    seq: Option<u64>,
}

/// A forwarding exporter behind its sending queue.
///
/// The bound counts batches waiting to be sent (recovered ones included); over it a batch is
/// refused and counted in `spoor_exporter_spans_enqueue_failed_total`, as the Collector's
/// `exporterhelper` refuses with "sending queue is full".
pub struct QueuedExporter {
    tx: mpsc::UnboundedSender<Item>,
    pending: Arc<AtomicUsize>,
    capacity: usize,
    disk: Option<Arc<DiskQueue>>,
    counters: ExporterCounters,
}

impl QueuedExporter {
    /// Starts the consumers; they finish what is queued and stop when the queue is dropped.
    /// With `disk`, the batches an earlier run left are queued first.
    pub fn start(
        name: String,
        exporter: Arc<dyn Exporter>,
        queue: &SendingQueue,
        retry: RetrySettings,
        counters: ExporterCounters,
        disk: Option<Opened>,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::unbounded_channel::<Item>();
        counters.queue_capacity.set(queue.queue_size as i64);
        let pending = Arc::new(AtomicUsize::new(0));
        let disk = disk.map(|opened| {
            if opened.corrupt > 0 {
                counters.queue_corrupt.inc_by(opened.corrupt);
            }
            for r in opened.recovered {
                counters.queue_recovered.inc();
                counters.queue_size.inc();
                pending.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(Item {
                    batch: r.batch,
                    seq: Some(r.seq),
                });
            }
            let recovered = pending.load(Ordering::SeqCst);
            if recovered > 0 {
                tracing::info!(exporter = %name, batches = recovered, dir = %opened.queue.dir().display(), "persistent queue: sending batches left by the last run");
            }
            Arc::new(opened.queue)
        });
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..queue.num_consumers.max(1) {
            let rx = rx.clone();
            let exporter = exporter.clone();
            let counters = counters.clone();
            let retry = retry.clone();
            let name = name.clone();
            let pending = pending.clone();
            let disk = disk.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(item) = next else { return };
                    counters.queue_size.dec();
                    pending.fetch_sub(1, Ordering::SeqCst);
                    let _ =
                        send_with_retry(&name, exporter.as_ref(), item.batch, &retry, &counters)
                            .await;
                    // Sent, or given up on (counted as send_failed): either way it leaves the queue.
                    if let (Some(disk), Some(seq)) = (&disk, item.seq) {
                        let disk = disk.clone();
                        let _ = tokio::task::spawn_blocking(move || disk.remove(seq)).await;
                    }
                }
            }));
        }
        (
            Self {
                tx,
                pending,
                capacity: queue.queue_size.max(1),
                disk,
                counters,
            },
            tasks,
        )
    }

    /// Queues a batch without waiting for the send; with a persistent queue, returns once the
    /// batch is on disk. `false` (counted) when the queue is full or the disk write failed.
    pub async fn enqueue(&self, batch: Vec<ResourceSpans>) -> bool {
        let spans = span_count(&batch) as u64;
        let reserved = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            self.counters.enqueue_failed.inc_by(spans);
            return false;
        }
        let mut seq = None;
        if let Some(disk) = &self.disk {
            let disk = disk.clone();
            let written = tokio::task::spawn_blocking(move || {
                let r = disk.put(&batch);
                (r, batch)
            })
            .await;
            match written {
                Ok((Ok(s), b)) => {
                    seq = Some(s);
                    return self.push(Item { batch: b, seq }, spans);
                }
                Ok((Err(e), _)) => {
                    tracing::error!(error = %e, "persistent queue: cannot write the batch; refused");
                }
                Err(e) => {
                    tracing::error!(error = %e, "persistent queue: the write task failed; refused");
                }
            }
            self.pending.fetch_sub(1, Ordering::SeqCst);
            self.counters.enqueue_failed.inc_by(spans);
            return false;
        }
        self.push(Item { batch, seq }, spans)
    }

    fn push(&self, item: Item, spans: u64) -> bool {
        self.counters.queue_size.inc();
        if self.tx.send(item).is_err() {
            // The consumers stopped (shutdown): a persistent batch stays on disk for next time.
            self.counters.queue_size.dec();
            self.pending.fetch_sub(1, Ordering::SeqCst);
            self.counters.enqueue_failed.inc_by(spans);
            return false;
        }
        true
    }
}
