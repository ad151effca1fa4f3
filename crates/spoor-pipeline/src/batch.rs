//! The `batch` processor: gathers the batches of concurrent requests into larger ones
//! (`send_batch_size` spans or `timeout`, whichever comes first), splits any above
//! `send_batch_max_size`, and hands them on.
//!
//! Unlike the Collector, which acknowledges a request as soon as it is queued in the batch, Spoor
//! acknowledges each request only when the batch holding it has been consumed downstream (a
//! group commit): what a client was told is stored is stored.

use serde::{Deserialize, Serialize};
use spoor_model::{ErrorKind, ResourceSpans, ScopeSpans, SinkError, TraceSink, span_count};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

/// `processors.batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Longest a span waits for its batch to fill.
    pub timeout: Duration,
    /// A batch is sent as soon as it holds this many spans.
    pub send_batch_size: u32,
    /// Larger batches are split to at most this many spans; 0 means no limit.
    pub send_batch_max_size: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(200),
            send_batch_size: 8192,
            send_batch_max_size: 0,
        }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            errors.push(ConfigError::new(
                "send_batch_max_size",
                format!(
                    "must be 0 or at least send_batch_size ({}), got {}",
                    self.send_batch_size, self.send_batch_max_size
                ),
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::Batch(self)
    }
}

struct Pending {
    batch: Vec<ResourceSpans>,
    spans: usize,
    done: oneshot::Sender<Result<(), SinkError>>,
}

/// The running batch processor: a [`TraceSink`] in front of `next`.
pub struct Batcher {
    tx: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the batching task; it ends (after a last flush) when the batcher is dropped.
    pub fn start(config: &BatchConfig, next: Arc<dyn TraceSink>) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(config.clone(), rx, next));
        Self { tx }
    }
}

#[async_trait::async_trait]
impl TraceSink for Batcher {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let (done, wait) = oneshot::channel();
        let spans = span_count(&batch);
        self.tx
            .send(Pending { batch, spans, done })
            .await
            .map_err(|_| SinkError::new(ErrorKind::Unavailable, "the pipeline is shutting down"))?;
        wait.await.unwrap_or_else(|_| {
            Err(SinkError::new(
                ErrorKind::Internal,
                "batch processor stopped",
            ))
        })
    }
}

async fn run(config: BatchConfig, mut rx: mpsc::Receiver<Pending>, next: Arc<dyn TraceSink>) {
    let size = (config.send_batch_size as usize).max(1);
    let max = config.send_batch_max_size as usize;
    loop {
        let Some(first) = rx.recv().await else { return };
        let deadline = tokio::time::Instant::now() + config.timeout.get();
        let mut spans = first.spans;
        let mut group = vec![first];
        let mut closed = false;
        while spans < size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => {
                    spans += p.spans;
                    group.push(p);
                }
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let next = next.clone();
        let flush = tokio::spawn(flush(group, max, next));
        if closed {
            let _ = flush.await;
            return;
        }
    }
}

async fn flush(group: Vec<Pending>, max: usize, next: Arc<dyn TraceSink>) {
    let mut merged = Vec::new();
    let mut waiters = Vec::with_capacity(group.len());
    for p in group {
        merged.extend(p.batch);
        waiters.push(p.done);
    }
    let mut result = Ok(());
    for chunk in split(merged, max) {
        if let Err(e) = next.consume(chunk).await {
            result = Err(e);
            break;
        }
    }
    for w in waiters {
        let _ = w.send(result.clone());
    }
}

/// Splits a batch into batches of at most `max` spans (0: no limit), keeping each span with its
/// resource and scope.
pub fn split(batch: Vec<ResourceSpans>, max: usize) -> Vec<Vec<ResourceSpans>> {
    if max == 0 || span_count(&batch) <= max {
        return vec![batch];
    }
    let mut out = Vec::new();
    let mut current: Vec<ResourceSpans> = Vec::new();
    let mut room = max;
    for rs in batch {
        let mut rs_out = ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: rs.schema_url.clone(),
        };
        for ss in rs.scope_spans {
            let mut spans = ss.spans.into_iter().peekable();
            while spans.peek().is_some() {
                let take: Vec<_> = spans.by_ref().take(room).collect();
                room -= take.len();
                rs_out.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans: take,
                    schema_url: ss.schema_url.clone(),
                });
                if room == 0 {
                    let full = std::mem::replace(
                        &mut rs_out,
                        ResourceSpans {
                            resource: rs.resource.clone(),
                            scope_spans: Vec::new(),
                            schema_url: rs.schema_url.clone(),
                        },
                    );
                    current.push(full);
                    out.push(std::mem::take(&mut current));
                    room = max;
                }
            }
        }
        if !rs_out.scope_spans.is_empty() {
            current.push(rs_out);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use spoor_model::Span;

    use super::*;

    fn batch(n: usize) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); n],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[derive(Default)]
    struct Collect(Mutex<Vec<usize>>);

    #[async_trait::async_trait]
    impl TraceSink for Collect {
        async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
            self.0.lock().push(span_count(&batch));
            Ok(())
        }
    }

    #[test]
    fn splits_at_the_max_size() {
        let sizes: Vec<usize> = split(batch(10), 4).iter().map(|b| span_count(b)).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(split(batch(3), 0).len(), 1);
    }

    #[tokio::test]
    async fn groups_concurrent_requests_and_acknowledges_after_the_flush() {
        let sink = Arc::new(Collect::default());
        let config = BatchConfig {
            timeout: Duration::from_millis(100),
            send_batch_size: 10,
            send_batch_max_size: 0,
        };
        let batcher = Arc::new(Batcher::start(&config, sink.clone()));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { b.consume(batch(3)).await }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_ok());
        }
        let seen = sink.0.lock().clone();
        assert_eq!(seen.iter().sum::<usize>(), 12);
        assert!(seen.len() <= 2, "grouped: {seen:?}");
        // A lone small request is sent when the timeout expires.
        let started = std::time::Instant::now();
        assert!(batcher.consume(batch(1)).await.is_ok());
        assert!(started.elapsed() >= std::time::Duration::from_millis(90));
    }
}
