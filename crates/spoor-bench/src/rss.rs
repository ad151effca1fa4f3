//! Peak resident memory per phase: a background task samples `VmRSS` of one process every
//! 50 ms; each [`RssSampler::take_peak`] returns the peak since the previous one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::child::current_rss;

const EVERY: Duration = Duration::from_millis(50);

pub(crate) struct RssSampler {
    pid: u32,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(rss) = current_rss(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(EVERY).await;
            }
        });
        Self { pid, peak, task }
    }

    /// The peak RSS in bytes since the last call (or the start), sampling once more now;
    /// `None` when nothing could be read (the process is gone and was never sampled).
    pub(crate) fn take_peak(&self) -> Option<u64> {
        if let Some(rss) = current_rss(self.pid) {
            self.peak.fetch_max(rss, Ordering::Relaxed);
        }
        let peak = self.peak.swap(0, Ordering::Relaxed);
        (peak > 0).then_some(peak)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
