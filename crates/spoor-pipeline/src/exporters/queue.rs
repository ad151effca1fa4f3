//! The sending queue and retries of forwarding exporters, as the Collector's `exporterhelper`:
//! a bounded queue of batches (`sending_queue.queue_size`) drained by `num_consumers` tasks,
//! each attempt retried on retryable failures with exponential backoff
//! (`retry_on_failure`). A full queue refuses the batch at once instead of blocking the pipeline.

use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use spoor_model::{ResourceSpans, span_count};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

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
    /// A storage extension for a persistent queue (not available in this build).
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
        if self.storage.is_some() {
            errors.push(ConfigError::new(
                "sending_queue.storage",
                "persistent queues are not available in this build; remove storage to queue in memory",
            ));
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

/// Sends a batch, retrying retryable failures as `retry` says; counts sent, failed and retries.
pub async fn send_with_retry(
    name: &str,
    exporter: &dyn Exporter,
    batch: Vec<ResourceSpans>,
    retry: &RetrySettings,
    counters: &ExporterCounters,
) -> Result<(), ExportError> {
    let spans = span_count(&batch) as u64;
    let started = tokio::time::Instant::now();
    let mut wait = retry.initial_interval.get();
    loop {
        match exporter.export(batch.clone()).await {
            Ok(()) => {
                counters.sent.inc_by(spans);
                return Ok(());
            }
            Err(e) => {
                let max_elapsed = retry.max_elapsed_time.get();
                let jitter = if retry.randomization_factor > 0.0 {
                    rand::rng().random_range(
                        1.0 - retry.randomization_factor..1.0 + retry.randomization_factor,
                    )
                } else {
                    1.0
                };
                let backoff = wait.mul_f64(jitter);
                let out_of_time =
                    !max_elapsed.is_zero() && started.elapsed() + backoff > max_elapsed;
                if !e.retryable || !retry.enabled || out_of_time {
                    counters.send_failed.inc_by(spans);
                    tracing::error!(exporter = name, spans, error = %e, retryable = e.retryable, "export failed; spans dropped");
                    return Err(e);
                }
                tracing::warn!(exporter = name, error = %e, retry_in = ?backoff, "export failed; will retry");
                counters.retries.inc();
                tokio::time::sleep(backoff).await;
                wait = wait.mul_f64(retry.multiplier).min(retry.max_interval.get());
            }
        }
    }
}

/// A forwarding exporter behind its sending queue.
pub struct QueuedExporter {
    tx: mpsc::Sender<Vec<ResourceSpans>>,
    counters: ExporterCounters,
}

impl QueuedExporter {
    /// Starts the consumers; they finish what is queued and stop when the queue is dropped.
    pub fn start(
        name: String,
        exporter: Arc<dyn Exporter>,
        queue: &SendingQueue,
        retry: RetrySettings,
        counters: ExporterCounters,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(queue.queue_size.max(1));
        counters.queue_capacity.set(queue.queue_size as i64);
        let rx = Arc::new(Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..queue.num_consumers.max(1) {
            let rx = rx.clone();
            let exporter = exporter.clone();
            let counters = counters.clone();
            let retry = retry.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(batch) = next else { return };
                    counters.queue_size.dec();
                    let _ =
                        send_with_retry(&name, exporter.as_ref(), batch, &retry, &counters).await;
                }
            }));
        }
        (Self { tx, counters }, tasks)
    }

    /// Queues a batch without waiting; `false` (counted) when the queue is full.
    pub fn try_enqueue(&self, batch: Vec<ResourceSpans>) -> bool {
        let spans = span_count(&batch) as u64;
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.counters.queue_size.inc();
                true
            }
            Err(_) => {
                self.counters.enqueue_failed.inc_by(spans);
                false
            }
        }
    }
}
