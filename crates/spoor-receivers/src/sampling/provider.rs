//! The strategies being served, loaded from a file and reloaded when it changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;
use tokio_util::sync::CancellationToken;

use super::strategies::{Strategies, StrategiesError, StrategyResponse, parse};

/// Where strategies come from (`--sampling-strategies`, `--sampling-reload-interval`,
/// `--sampling-default-probability`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// A Jaeger `sampling.json` (or YAML of the same shape); `None` serves the default probability.
    pub strategies_file: Option<PathBuf>,
    /// How often the file is read again; zero never reloads.
    pub reload_interval: Duration,
    /// The probability for services the file does not name (and entries without a type).
    pub default_sampling_probability: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            strategies_file: None,
            reload_interval: Duration::from_secs(10),
            default_sampling_probability: super::strategies::DEFAULT_SAMPLING_PROBABILITY,
        }
    }
}

#[derive(Clone)]
struct StoreMetrics {
    requests: Family<Vec<(String, String)>, Counter>,
    reloads: Family<Vec<(String, String)>, Counter>,
}

/// The strategies every sampling endpoint (HTTP 5778, gRPC `SamplingManager`) serves.
pub struct StrategyStore {
    config: SamplingConfig,
    current: RwLock<Arc<Strategies>>,
    last_bytes: Mutex<Vec<u8>>,
    metrics: StoreMetrics,
}

impl StrategyStore {
    /// Loads the strategies; a file that cannot be read or parsed is an error (the process should
    /// not start serving something other than what the operator wrote).
    pub fn load(
        config: SamplingConfig,
        telemetry: &Telemetry,
    ) -> Result<Arc<Self>, StrategiesError> {
        if !(0.0..=1.0).contains(&config.default_sampling_probability) {
            return Err(StrategiesError::Invalid {
                at: "default sampling probability".into(),
                what: format!("{} is outside 0..=1", config.default_sampling_probability),
            });
        }
        let metrics = StoreMetrics {
            requests: Family::default(),
            reloads: Family::default(),
        };
        telemetry.register(
            "sampling_requests",
            "Sampling strategy requests answered, by transport and result",
            metrics.requests.clone(),
        );
        telemetry.register(
            "sampling_strategy_reloads",
            "Reads of the sampling strategies file, by result (changed, unchanged, failed)",
            metrics.reloads.clone(),
        );
        let store = Arc::new(Self {
            current: RwLock::new(Arc::new(Strategies::defaults(
                config.default_sampling_probability,
            ))),
            config,
            last_bytes: Mutex::new(Vec::new()),
            metrics,
        });
        if store.config.strategies_file.is_some() {
            store.reload()?;
        }
        Ok(store)
    }

    /// The strategy for a service (the default one when the file does not name it).
    pub fn strategy(&self, service: &str) -> Arc<StrategyResponse> {
        self.current.read().for_service(service)
    }

    /// The strategies as served now.
    pub fn snapshot(&self) -> Arc<Strategies> {
        self.current.read().clone()
    }

    pub(crate) fn count_request(&self, transport: &str, result: &str) {
        self.metrics
            .requests
            .get_or_create(&vec![
                ("transport".to_string(), transport.to_string()),
                ("result".to_string(), result.to_string()),
            ])
            .inc();
    }

    fn count_reload(&self, result: &str) {
        self.metrics
            .reloads
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    /// Reads the file again; returns whether the served strategies changed. On error the
    /// strategies served so far stay.
    pub fn reload(&self) -> Result<bool, StrategiesError> {
        let Some(path) = &self.config.strategies_file else {
            return Ok(false);
        };
        let bytes = std::fs::read(path).map_err(|source| {
            self.count_reload("failed");
            StrategiesError::Read {
                path: path.display().to_string(),
                source,
            }
        })?;
        if *self.last_bytes.lock() == bytes {
            self.count_reload("unchanged");
            return Ok(false);
        }
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse(&text, self.config.default_sampling_probability).inspect_err(|_| {
            self.count_reload("failed");
        })?;
        for w in &parsed.warnings {
            tracing::warn!(file = %path.display(), "sampling strategies: {w}");
        }
        if !parsed.strategies.adaptive.is_empty() {
            tracing::warn!(
                services = ?parsed.strategies.adaptive,
                "sampling strategies: type adaptive is served as its `param` (or the default probability); adaptive recalculation is not in this build"
            );
        }
        tracing::info!(
            file = %path.display(),
            services = parsed.strategies.services.len(),
            "sampling strategies loaded"
        );
        *self.current.write() = Arc::new(parsed.strategies);
        *self.last_bytes.lock() = bytes;
        self.count_reload("changed");
        Ok(true)
    }

    /// Reloads the file every `reload_interval` until shutdown (nothing when the interval is zero
    /// or there is no file).
    pub fn spawn_reloader(self: &Arc<Self>, shutdown: CancellationToken) {
        let interval = self.config.reload_interval;
        if interval.is_zero() || self.config.strategies_file.is_none() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let reloaded = tokio::task::spawn_blocking({
                    let store = store.clone();
                    move || store.reload()
                })
                .await;
                match reloaded {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(
                        error = %e,
                        "sampling strategies not reloaded; still serving the previous ones"
                    ),
                    Err(e) => tracing::error!(error = %e, "sampling strategies reload task failed"),
                }
            }
        });
    }
}
