//! The one ingest path every receiver takes once a payload is decoded: it hands the batch to the
//! pipeline's entry (`TraceSink::ingest`, which validates it: invalid ids refused, attribute
//! values bounded by [`spoor_model::attr_limits`]) and counts the outcome with the standard
//! receiver counters; and a rate-limited warning for bad input.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spoor_model::attr_limits::AttributeLimit;
use spoor_model::{ErrorKind, Ingested, ResourceSpans, span_count};
use spoor_telemetry::ReceiverMetrics;

use crate::component::ReceiverContext;

/// What [`deliver`] did with a batch.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    /// What the pipeline's entry removed; its refused spans are reported to OTLP clients as a
    /// partial success.
    pub(crate) rejected: Ingested,
}

/// Counts a decoded batch as received and hands it to the pipeline's entry; counts the spans it
/// refused as invalid (refused), the attribute values it dropped
/// (`spoor_receiver_attributes_dropped_total`; the spans are kept) and the rest as accepted.
/// On a sink error returns its kind and message (the spans are then counted as refused;
/// callers without a client to answer count them as dropped instead).
pub(crate) async fn deliver(
    ctx: &ReceiverContext,
    metrics: &ReceiverMetrics,
    mut batch: Vec<ResourceSpans>,
    wire_bytes: u64,
    answerable: bool,
) -> Result<Delivered, (ErrorKind, String)> {
    let total = span_count(&batch) as u64;
    metrics.received(total, wire_bytes);
    if total == 0 {
        return Ok(Delivered::default());
    }
    let scope = crate::tenant::current();
    if let Some(s) = &scope
        && let Err(e) = s.tenancy.admit(&s.tenant, total)
    {
        if answerable {
            metrics.refused(total);
        } else {
            metrics.dropped(total);
        }
        metrics.request_error(e.reason(), 0);
        return Err((ErrorKind::Overloaded, e.to_string()));
    }
    // The request's tenant travels with its spans; a client cannot choose it.
    crate::tenant::stamp(&mut batch, scope.as_ref().map(|s| &*s.tenant));
    let (rejected, result) = ctx.sink.ingest(batch).await;
    let refuse = |n: u64| {
        if answerable {
            metrics.refused(n);
        } else {
            metrics.dropped(n);
        }
    };
    if rejected.rejected_spans > 0 {
        refuse(rejected.rejected_spans);
        metrics.request_error("invalid_span", 0);
    }
    let dropped = rejected.attributes_dropped;
    metrics.attributes_dropped(AttributeLimit::TooDeep.as_str(), dropped.too_deep);
    metrics.attributes_dropped(
        AttributeLimit::TooManyValues.as_str(),
        dropped.too_many_values,
    );
    let accepted = total.saturating_sub(rejected.rejected_spans);
    if let Err(e) = result {
        refuse(accepted);
        metrics.request_error(e.kind.as_str(), 0);
        return Err((e.kind, e.message));
    }
    metrics.accepted(accepted);
    Ok(Delivered { rejected })
}

/// Logs a warning at most once per interval, saying how many were suppressed in between, so a
/// flood of bad datagrams cannot flood the log.
#[derive(Clone)]
pub(crate) struct WarnLimiter {
    inner: Arc<LimiterState>,
}

struct LimiterState {
    start: Instant,
    interval_ms: u64,
    /// Milliseconds since `start` of the last emitted warning, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            inner: Arc::new(LimiterState {
                start: Instant::now(),
                interval_ms: interval.as_millis() as u64,
                last: AtomicU64::new(0),
                suppressed: AtomicU64::new(0),
            }),
        }
    }

    /// Warns about bad input from `receiver` unless a warning was logged within the interval.
    pub(crate) fn warn(
        &self,
        receiver: &'static str,
        reason: &str,
        detail: &dyn std::fmt::Display,
    ) {
        let s = &self.inner;
        let now = s.start.elapsed().as_millis() as u64 + 1;
        let last = s.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < s.interval_ms
            || s.last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            s.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let suppressed = s.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(receiver, reason, suppressed, "rejected input: {detail}");
    }
}

impl Default for WarnLimiter {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_interval() {
        let limiter = WarnLimiter::new(Duration::from_secs(3600));
        for _ in 0..5 {
            limiter.warn("test", "decode", &"bad");
        }
        assert_eq!(limiter.inner.suppressed.load(Ordering::Relaxed), 4);
    }
}
