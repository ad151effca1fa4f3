//! The `memory_limiter` processor: every `check_interval` it reads the process's resident memory
//! from `/proc/self/status`; while it is above the soft limit (`limit - spike_limit`) new data is
//! refused as overloaded, which receivers answer with 429 / RESOURCE_EXHAUSTED so clients retry
//! later. Data already accepted is never dropped by it.
//!
//! RSS is sampled once per process: when the binary hands its `--memory-limit` sampler
//! ([`spoor_telemetry::MemoryLimiter`], every 100 ms) to assembly, the processor reads that
//! sampler's last value instead of reading `/proc` again; only without one (unit tests, or
//! before the sampler's first sample) it reads `/proc/self/status` itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use spoor_model::{ErrorKind, ResourceSpans, SinkError, TraceSink};
use spoor_telemetry::{available_memory, current_rss};
use tokio_util::sync::CancellationToken;

use crate::ConfigError;
use crate::config::Duration;
use crate::registry::{ComponentConfig, Spec};

const MIB: u64 = 1024 * 1024;

/// `processors.memory_limiter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    /// How often resident memory is measured.
    pub check_interval: Duration,
    /// Hard limit in MiB; 0 to use `limit_percentage`.
    pub limit_mib: u64,
    /// Headroom below the limit in MiB: data is refused above `limit_mib - spike_limit_mib`.
    /// 0 means 20 % of the limit.
    pub spike_limit_mib: u64,
    /// Hard limit as a percentage of the machine's (or cgroup's) memory, when `limit_mib` is 0.
    pub limit_percentage: u32,
    /// Headroom as a percentage, with `limit_percentage`; 0 means 20 % of the limit.
    pub spike_limit_percentage: u32,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(1),
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
        }
    }
}

impl ComponentConfig for MemoryLimiterConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.check_interval.get().is_zero() {
            errors.push(ConfigError::new("check_interval", "must be greater than 0"));
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            errors.push(ConfigError::new(
                "limit_mib",
                "set limit_mib or limit_percentage",
            ));
        }
        if self.limit_mib > 0 && self.spike_limit_mib >= self.limit_mib {
            errors.push(ConfigError::new(
                "spike_limit_mib",
                format!(
                    "must be less than limit_mib ({}), got {}",
                    self.limit_mib, self.spike_limit_mib
                ),
            ));
        }
        if self.limit_percentage > 100 {
            errors.push(ConfigError::new(
                "limit_percentage",
                "must be between 1 and 100",
            ));
        }
        if self.limit_percentage > 0 && self.spike_limit_percentage >= self.limit_percentage {
            errors.push(ConfigError::new(
                "spike_limit_percentage",
                "must be less than limit_percentage",
            ));
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::MemoryLimiter(self)
    }
}

impl MemoryLimiterConfig {
    /// (hard, soft) limits in bytes; `total` is the memory available to the process.
    pub fn limits(&self, total: u64) -> (u64, u64) {
        let (hard, spike) = if self.limit_mib > 0 {
            let hard = self.limit_mib * MIB;
            let spike = if self.spike_limit_mib > 0 {
                self.spike_limit_mib * MIB
            } else {
                hard / 5
            };
            (hard, spike)
        } else {
            let hard = total / 100 * u64::from(self.limit_percentage);
            let spike = if self.spike_limit_percentage > 0 {
                total / 100 * u64::from(self.spike_limit_percentage)
            } else {
                hard / 5
            };
            (hard, spike)
        };
        (hard, hard.saturating_sub(spike))
    }
}

/// The running limiter: a [`TraceSink`] in front of `next`.
pub struct MemoryLimiter {
    next: Arc<dyn TraceSink>,
    refusing: Arc<AtomicBool>,
    rss: Arc<AtomicU64>,
    soft: u64,
}

impl MemoryLimiter {
    /// Starts checking every `check_interval`, from `sampler`'s samples when given; the
    /// checking task stops with `shutdown`.
    pub fn start(
        config: &MemoryLimiterConfig,
        next: Arc<dyn TraceSink>,
        shutdown: CancellationToken,
        sampler: Option<spoor_telemetry::MemoryLimiter>,
    ) -> Self {
        let (hard, soft) = config.limits(available_memory().unwrap_or(0));
        let refusing = Arc::new(AtomicBool::new(false));
        let rss = Arc::new(AtomicU64::new(0));
        let interval = config.check_interval.get();
        tracing::info!(
            limit_mib = hard / MIB,
            soft_limit_mib = soft / MIB,
            ?interval,
            "memory_limiter"
        );
        let check = {
            let refusing = refusing.clone();
            let rss = rss.clone();
            move || {
                let now = match sampler.as_ref().map(spoor_telemetry::MemoryLimiter::rss) {
                    Some(sampled) if sampled > 0 => sampled,
                    _ => current_rss().unwrap_or(0),
                };
                rss.store(now, Ordering::Relaxed);
                let over = now > soft;
                if over != refusing.swap(over, Ordering::Relaxed) {
                    if over {
                        tracing::warn!(
                            rss_mib = now / MIB,
                            soft_limit_mib = soft / MIB,
                            "memory above the soft limit: refusing data"
                        );
                    } else {
                        tracing::info!(
                            rss_mib = now / MIB,
                            "memory back under the soft limit: accepting data"
                        );
                    }
                }
            }
        };
        check();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => check(),
                }
            }
        });
        Self {
            next,
            refusing,
            rss,
            soft,
        }
    }
}

#[async_trait::async_trait]
impl TraceSink for MemoryLimiter {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        self.admit()?;
        self.next.consume(batch).await
    }
}

impl MemoryLimiter {
    /// Refuses as overloaded while memory is above the soft limit (metrics and logs pipelines
    /// call this directly).
    pub(crate) fn admit(&self) -> Result<(), SinkError> {
        if self.refusing.load(Ordering::Relaxed) {
            return Err(SinkError::new(
                ErrorKind::Overloaded,
                format!(
                    "memory usage {} MiB is above the memory_limiter soft limit of {} MiB; retry later",
                    self.rss.load(Ordering::Relaxed) / MIB,
                    self.soft / MIB
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_limits() {
        let c = MemoryLimiterConfig {
            limit_mib: 512,
            spike_limit_mib: 128,
            ..Default::default()
        };
        assert_eq!(c.limits(0), (512 * MIB, 384 * MIB));
        let c = MemoryLimiterConfig {
            limit_mib: 500,
            ..Default::default()
        };
        assert_eq!(c.limits(0), (500 * MIB, 400 * MIB));
        let c = MemoryLimiterConfig {
            limit_percentage: 50,
            ..Default::default()
        };
        assert_eq!(c.limits(1000 * MIB), (500 * MIB, 400 * MIB));
        assert!(current_rss().is_some_and(|b| b > 0));
    }

    #[tokio::test]
    async fn refuses_as_overloaded_above_the_soft_limit() {
        struct Ok_;
        #[async_trait::async_trait]
        impl TraceSink for Ok_ {
            async fn consume(&self, _: Vec<ResourceSpans>) -> Result<(), SinkError> {
                Ok(())
            }
        }
        // One MiB is far below what a test process uses: refused from the first check.
        let tight = MemoryLimiterConfig {
            limit_mib: 2,
            spike_limit_mib: 1,
            ..Default::default()
        };
        let m = MemoryLimiter::start(&tight, Arc::new(Ok_), CancellationToken::new(), None);
        let e = m.consume(Vec::new()).await.expect_err("over the limit");
        assert_eq!(e.kind, ErrorKind::Overloaded);
        let roomy = MemoryLimiterConfig {
            limit_mib: 1 << 20,
            ..Default::default()
        };
        let m = MemoryLimiter::start(&roomy, Arc::new(Ok_), CancellationToken::new(), None);
        assert!(m.consume(Vec::new()).await.is_ok());
        // With the process sampler, its last sample decides: no second reading of /proc.
        let sampler = spoor_telemetry::MemoryLimiter::off();
        sampler.record(1 << 40);
        let quick = MemoryLimiterConfig {
            check_interval: Duration(std::time::Duration::from_millis(20)),
            ..roomy
        };
        let m = MemoryLimiter::start(
            &quick,
            Arc::new(Ok_),
            CancellationToken::new(),
            Some(sampler.clone()),
        );
        let e = m
            .consume(Vec::new())
            .await
            .expect_err("the sampler says 1 TiB");
        assert!(e.message.contains("1048576 MiB"), "{}", e.message);
        sampler.record(1);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            m.consume(Vec::new()).await.is_ok(),
            "recovers at the next check"
        );
    }
}
