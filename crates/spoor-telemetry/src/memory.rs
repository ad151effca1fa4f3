//! A process-wide memory limit measured from the resident set size.
//!
//! [`MemoryLimiter`] samples the process's RSS (`VmRSS` in `/proc/self/status`) on a background
//! thread; while it is above the limit, [`MemoryLimiter::admit`] answers `false` and every
//! receiver refuses new requests before reading them (429 / RESOURCE_EXHAUSTED with a retry
//! hint), so memory can only fall. It recovers as soon as a sample is back under the limit.
//! The pipeline's `memory_limiter` processor is meant to use the same handle.
//!
//! Sampling alone lets every request admitted in the last interval be read and decoded at
//! once, and a decoded OTLP request is several times its wire size. So with a limit, requests
//! also hold a permit while they are read and handled ([`MemoryLimiter::enter`]): at most one
//! per [`MEMORY_PER_REQUEST`] of the limit are in flight. A request beyond them waits, unread,
//! at most [`IN_FLIGHT_WAIT`] for a permit ([`MemoryLimiter::enter_within`]), and is then refused
//! (429 / RESOURCE_EXHAUSTED, so the client backs off): a short burst above the bound is
//! smoothed instead of sending its clients into back-off, a sustained one is still refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::Telemetry;

/// How often the sampler reads the RSS.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(25);

/// The share of the memory limit one request in flight may take (read, decoded and handed
/// on): the limit divided by this is how many requests are handled at once.
pub const MEMORY_PER_REQUEST: u64 = 64 << 20;

/// How long a request waits, unread, for a place among those in flight before it is refused.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_millis(500);

/// Fewest and most requests in flight when there is a limit.
const MIN_REQUESTS_IN_FLIGHT: u64 = 4;
const MAX_REQUESTS_IN_FLIGHT: u64 = 256;

/// A cheaply clonable handle to the process's memory limit; all clones share one state.
#[derive(Clone)]
pub struct MemoryLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    limit: Option<u64>,
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
    rss: AtomicU64,
    over: AtomicBool,
    rss_gauge: Gauge,
    refusals: Counter,
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("limit", &self.inner.limit)
            .field("rss", &self.rss())
            .finish()
    }
}

impl MemoryLimiter {
    /// A limiter that never refuses (no limit, no metrics).
    pub fn off() -> Self {
        Self::with_metrics(None, Gauge::default(), Counter::default())
    }

    /// A limiter for `limit` bytes of RSS (`None`: never refuses, RSS still reported), with its
    /// metrics registered in `telemetry`: `spoor_memory_rss_bytes`, `spoor_memory_limit_bytes`
    /// (0 when off) and `spoor_memory_limit_refusals_total`. Call [`Self::start_sampler`] once.
    pub fn new(limit: Option<u64>, telemetry: &Telemetry) -> Self {
        let limiter = Self::with_metrics(limit, Gauge::default(), Counter::default());
        telemetry.register(
            "memory_rss_bytes",
            "Resident set size of the process at the last sample",
            limiter.inner.rss_gauge.clone(),
        );
        let limit_gauge: Gauge = Gauge::default();
        limit_gauge.set(limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)));
        telemetry.register(
            "memory_limit_bytes",
            "The --memory-limit in bytes (0: no limit)",
            limit_gauge,
        );
        telemetry.register(
            "memory_limit_refusals",
            "Requests refused because the resident set size was above --memory-limit",
            limiter.inner.refusals.clone(),
        );
        limiter
    }

    fn with_metrics(limit: Option<u64>, rss_gauge: Gauge, refusals: Counter) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                in_flight: limit
                    .map(|l| Arc::new(tokio::sync::Semaphore::new(requests_in_flight(l)))),
                rss: AtomicU64::new(0),
                over: AtomicBool::new(false),
                rss_gauge,
                refusals,
            }),
        }
    }

    /// The limit in bytes, if any.
    pub fn limit(&self) -> Option<u64> {
        self.inner.limit
    }

    /// RSS in bytes at the last sample (0 before the first).
    pub fn rss(&self) -> u64 {
        self.inner.rss.load(Ordering::Relaxed)
    }

    /// Records a sample of `rss` bytes and decides whether the process is over its limit.
    pub fn record(&self, rss: u64) {
        self.inner.rss.store(rss, Ordering::Relaxed);
        self.inner
            .rss_gauge
            .set(i64::try_from(rss).unwrap_or(i64::MAX));
        let over = self.inner.limit.is_some_and(|limit| rss > limit);
        let was = self.inner.over.swap(over, Ordering::Relaxed);
        if over != was {
            if over {
                tracing::warn!(rss, limit = ?self.inner.limit, "memory limit exceeded: refusing new requests");
            } else {
                tracing::info!(rss, limit = ?self.inner.limit, "memory back under the limit: accepting requests");
            }
        }
    }

    /// Whether a new request may be read now. `false` (counted as a refusal) while the last
    /// sample was above the limit.
    pub fn admit(&self) -> bool {
        if self.inner.over.load(Ordering::Relaxed) {
            self.inner.refusals.inc();
            return false;
        }
        true
    }

    /// How many requests may be in flight at once (`None`: no bound, there is no limit).
    pub fn requests_in_flight_bound(&self) -> Option<usize> {
        self.inner.limit.map(requests_in_flight)
    }

    /// Admits a request to be read and handled, holding its permit until the returned guard is
    /// dropped. Refused (and counted) while the process is over its limit, or when as many
    /// requests as the limit allows are already in flight: the client is told to retry.
    pub fn enter(&self) -> Result<RequestPermit, Refusal> {
        let entered = self.enter_now();
        if entered.as_ref().err() == Some(&Refusal::InFlight) {
            self.inner.refusals.inc();
        }
        entered
    }

    /// [`Self::enter`], but a request that finds every permit taken waits up to `wait` for one
    /// (unread: it holds no memory yet) before it is refused; the memory limit is checked again
    /// once it has its permit.
    pub async fn enter_within(&self, wait: Duration) -> Result<RequestPermit, Refusal> {
        match self.enter_now() {
            Err(Refusal::InFlight) => {}
            done => return done,
        }
        let Some(semaphore) = self.inner.in_flight.clone() else {
            return Ok(RequestPermit { _permit: None });
        };
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => {
                if !self.admit() {
                    return Err(Refusal::OverLimit);
                }
                Ok(RequestPermit {
                    _permit: Some(permit),
                })
            }
            _ => {
                self.inner.refusals.inc();
                Err(Refusal::InFlight)
            }
        }
    }

    /// A permit now, or why not (an in-flight refusal is not counted yet).
    fn enter_now(&self) -> Result<RequestPermit, Refusal> {
        if !self.admit() {
            return Err(Refusal::OverLimit);
        }
        let Some(semaphore) = self.inner.in_flight.clone() else {
            return Ok(RequestPermit { _permit: None });
        };
        semaphore
            .try_acquire_owned()
            .map(|permit| RequestPermit {
                _permit: Some(permit),
            })
            .map_err(|_| Refusal::InFlight)
    }

    /// Starts the background thread that samples RSS every `interval`; it stops when every
    /// clone of this limiter is dropped. Without a readable `/proc/self/status` it does nothing.
    pub fn start_sampler(&self, interval: Duration) -> std::io::Result<()> {
        if current_rss().is_none() {
            return Ok(());
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("spoor-memory".into())
            .spawn(move || {
                while let Some(inner) = weak.upgrade() {
                    if let Some(rss) = current_rss() {
                        MemoryLimiter { inner }.record(rss);
                    }
                    std::thread::sleep(interval);
                }
            })
            .map(|_| ())
    }
}

/// Why [`MemoryLimiter::enter`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The resident set size is above the limit.
    OverLimit,
    /// As many requests as the limit allows are being read and handled.
    InFlight,
}

impl Refusal {
    /// The label a receiver counts it under.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::OverLimit => "memory_limit",
            Refusal::InFlight => "in_flight_limit",
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::OverLimit => "spoor is over its memory limit; retry later",
            Refusal::InFlight => {
                "spoor is handling as many requests as its memory limit allows; retry later"
            }
        }
    }
}

/// A request's place among those in flight; released when dropped.
#[derive(Debug)]
pub struct RequestPermit {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Requests in flight under a memory limit of `limit` bytes.
fn requests_in_flight(limit: u64) -> usize {
    let permits =
        (limit / MEMORY_PER_REQUEST).clamp(MIN_REQUESTS_IN_FLIGHT, MAX_REQUESTS_IN_FLIGHT);
    usize::try_from(permits).unwrap_or(usize::MAX)
}

/// The process's resident set size in bytes (`VmRSS`), if `/proc` is available.
pub fn current_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    proc_kib(&status, "VmRSS:")
}

/// The memory available to this process: the cgroup v2 `memory.max` if set, else `MemTotal`.
pub fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| proc_kib(&m, "MemTotal:"));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// A `Key:   123 kB` line of a `/proc` file, in bytes.
fn proc_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_above_the_limit_and_recovers_below_it() {
        let telemetry = Telemetry::new();
        let limiter = MemoryLimiter::new(Some(1000), &telemetry);
        assert!(limiter.admit());
        limiter.record(1001);
        assert!(!limiter.admit());
        assert!(!limiter.clone().admit(), "clones share the state");
        limiter.record(999);
        assert!(limiter.admit());
        let text = telemetry.render();
        assert!(
            text.contains("spoor_memory_limit_refusals_total 2"),
            "{text}"
        );
        assert!(text.contains("spoor_memory_rss_bytes 999"), "{text}");
        assert!(text.contains("spoor_memory_limit_bytes 1000"), "{text}");
        assert!(MemoryLimiter::off().admit());
    }

    #[test]
    fn bounds_requests_in_flight_by_the_limit() {
        let telemetry = Telemetry::new();
        let limiter = MemoryLimiter::new(Some(4 * MEMORY_PER_REQUEST), &telemetry);
        assert_eq!(limiter.requests_in_flight_bound(), Some(4));
        let held: Vec<_> = (0..4).filter_map(|_| limiter.enter().ok()).collect();
        assert_eq!(held.len(), 4);
        assert_eq!(limiter.enter().err(), Some(Refusal::InFlight));
        drop(held);
        assert!(limiter.enter().is_ok(), "a released permit is free again");
        limiter.record(5 * MEMORY_PER_REQUEST);
        assert_eq!(limiter.enter().err(), Some(Refusal::OverLimit));
        assert!(
            telemetry
                .render()
                .contains("spoor_memory_limit_refusals_total 2")
        );
        let small = MemoryLimiter::new(Some(1), &Telemetry::new());
        assert_eq!(
            small.requests_in_flight_bound(),
            Some(4),
            "never fewer than 4"
        );
        assert!(MemoryLimiter::off().requests_in_flight_bound().is_none());
        assert!(MemoryLimiter::off().enter().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_briefly_for_a_place_in_flight() {
        let telemetry = Telemetry::new();
        let limiter = MemoryLimiter::new(Some(4 * MEMORY_PER_REQUEST), &telemetry);
        let mut held: Vec<_> = (0..4).filter_map(|_| limiter.enter().ok()).collect();
        // Nobody leaves: refused after the wait, and counted.
        let started = tokio::time::Instant::now();
        assert_eq!(
            limiter.enter_within(IN_FLIGHT_WAIT).await.err(),
            Some(Refusal::InFlight)
        );
        assert_eq!(started.elapsed(), IN_FLIGHT_WAIT);
        assert!(
            telemetry
                .render()
                .contains("spoor_memory_limit_refusals_total 1")
        );
        // One leaves within the wait: the waiting request gets its place.
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.enter_within(IN_FLIGHT_WAIT).await })
        };
        tokio::time::sleep(IN_FLIGHT_WAIT / 2).await;
        held.pop();
        assert!(waiting.await.expect("join").is_ok());
        // Over the memory limit: refused at once, without waiting.
        drop(held);
        limiter.record(5 * MEMORY_PER_REQUEST);
        let started = tokio::time::Instant::now();
        assert_eq!(
            limiter.enter_within(IN_FLIGHT_WAIT).await.err(),
            Some(Refusal::OverLimit)
        );
        assert!(started.elapsed() < IN_FLIGHT_WAIT);
    }

    #[test]
    fn reads_rss_and_available_memory() {
        assert_eq!(
            proc_kib("Name: x\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2 * 1024 * 1024)
        );
        let rss = current_rss().expect("linux /proc");
        assert!(rss > 1024 * 1024);
        assert!(available_memory().expect("meminfo") > rss);
        let limiter = MemoryLimiter::off();
        limiter
            .start_sampler(Duration::from_millis(5))
            .expect("thread");
        std::thread::sleep(Duration::from_millis(50));
        assert!(limiter.rss() > 0);
    }
}
