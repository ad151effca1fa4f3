use std::sync::Arc;

use spoor_model::{ErrorKind, ResourceSpans, SinkError, TraceSink, span_count};
use spoor_storage::SpanWriter;
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::gauge::Gauge;
use tokio::sync::Semaphore;

/// Hands receiver batches to a storage writer, with a bound on spans in flight: when the store
/// falls behind and the bound is reached, new batches are refused at once as `Overloaded` (the
/// receivers answer 429 / RESOURCE_EXHAUSTED with a retry hint) instead of queueing without limit.
pub struct StoreSink {
    writer: Arc<dyn SpanWriter>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    in_flight_gauge: Gauge,
    overloaded: Counter,
}

impl StoreSink {
    pub fn new(
        writer: Arc<dyn SpanWriter>,
        max_in_flight_spans: usize,
        telemetry: &Telemetry,
    ) -> Self {
        let max = max_in_flight_spans.clamp(1, Semaphore::MAX_PERMITS);
        let sink = Self {
            writer,
            in_flight: Arc::new(Semaphore::new(max)),
            max_in_flight: max,
            in_flight_gauge: Gauge::default(),
            overloaded: Counter::default(),
        };
        telemetry.register(
            "ingest_spans_in_flight",
            "Spans handed to the store and not yet acknowledged by it",
            sink.in_flight_gauge.clone(),
        );
        telemetry.register(
            "ingest_refused_overloaded_batches",
            "Batches refused because the in-flight span bound was reached",
            sink.overloaded.clone(),
        );
        sink
    }
}

#[async_trait::async_trait]
impl TraceSink for StoreSink {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let spans = span_count(&batch).max(1);
        if spans > self.max_in_flight {
            return Err(SinkError::new(
                ErrorKind::TooLarge,
                format!(
                    "batch of {spans} spans exceeds the ingest bound of {} spans",
                    self.max_in_flight
                ),
            ));
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_many_owned(spans as u32) else {
            self.overloaded.inc();
            return Err(SinkError::new(
                ErrorKind::Overloaded,
                format!(
                    "ingest is overloaded ({} spans in flight); retry later",
                    self.max_in_flight - self.in_flight.available_permits()
                ),
            ));
        };
        self.in_flight_gauge.inc_by(spans as i64);
        let result = self.writer.write(batch).await;
        self.in_flight_gauge.dec_by(spans as i64);
        drop(permit);
        result.map_err(|e| SinkError::new(e.kind(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use spoor_model::{ScopeSpans, Span};
    use spoor_storage::StorageError;

    use super::*;

    /// A writer that takes its time, standing in for a store under pressure.
    struct SlowWriter;

    #[async_trait::async_trait]
    impl SpanWriter for SlowWriter {
        async fn write(&self, _batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(())
        }
    }

    fn batch(spans: usize) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); spans],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[tokio::test]
    async fn refuses_when_the_in_flight_bound_is_reached() {
        let sink = Arc::new(StoreSink::new(Arc::new(SlowWriter), 10, &Telemetry::new()));
        let first = tokio::spawn({
            let sink = sink.clone();
            async move { sink.consume(batch(8)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = sink.consume(batch(5)).await.expect_err("over the bound");
        assert_eq!(refused.kind, ErrorKind::Overloaded);
        assert!(first.await.expect("join").is_ok());
        assert!(sink.consume(batch(5)).await.is_ok(), "capacity returns");
        let too_big = sink.consume(batch(11)).await.expect_err("never fits");
        assert_eq!(too_big.kind, ErrorKind::TooLarge);
    }
}
