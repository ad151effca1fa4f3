//! The strategies being served, loaded from a file and reloaded when it changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;
use tokio_util::sync::CancellationToken;

use super::adaptive::{Adaptive, AdaptiveConfig, Root, roots};
use super::strategies::{
    OperationSampling, Strategies, StrategiesError, StrategyKind, StrategyResponse, parse,
};

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
    /// Adaptive sampling (`--sampling-adaptive`): every service the file does not name adapts.
    /// Without it, only the file's `type: adaptive` entries adapt, with the default options.
    pub adaptive: Option<AdaptiveConfig>,
    /// Where the learned probabilities are kept across restarts (in the data directory).
    pub adaptive_state_file: Option<PathBuf>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            strategies_file: None,
            reload_interval: Duration::from_secs(10),
            default_sampling_probability: super::strategies::DEFAULT_SAMPLING_PROBABILITY,
            adaptive: None,
            adaptive_state_file: None,
        }
    }
}

#[derive(Clone)]
struct StoreMetrics {
    requests: Family<Vec<(String, String)>, Counter>,
    reloads: Family<Vec<(String, String)>, Counter>,
    adaptive_roots: Family<Vec<(String, String)>, Counter>,
    adaptive_calculations: Counter,
}

/// The strategies every sampling endpoint (HTTP 5778, gRPC `SamplingManager`) serves.
pub struct StrategyStore {
    config: SamplingConfig,
    current: RwLock<Arc<Strategies>>,
    last_bytes: Mutex<Vec<u8>>,
    metrics: StoreMetrics,
    adaptive: Mutex<Adaptive>,
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
            adaptive_roots: Family::default(),
            adaptive_calculations: Counter::default(),
        };
        telemetry.register(
            "sampling_adaptive_roots",
            "Stored root spans counted by adaptive sampling, by where their probability came from (tracestate, jaeger_tags, served) or dropped (too many operations)",
            metrics.adaptive_roots.clone(),
        );
        telemetry.register(
            "sampling_adaptive_calculations",
            "Adaptive sampling recalculations",
            metrics.adaptive_calculations.clone(),
        );
        let adaptive_config = config.adaptive.clone().unwrap_or_default();
        adaptive_config
            .validate()
            .map_err(|e| StrategiesError::Invalid {
                at: "adaptive sampling".into(),
                what: e.to_string(),
            })?;
        let mut adaptive = Adaptive::new(adaptive_config);
        if let Some(path) = &config.adaptive_state_file {
            match std::fs::read_to_string(path) {
                Ok(text) => match adaptive.restore(&text) {
                    Ok(n) => tracing::info!(
                        file = %path.display(),
                        operations = n,
                        "adaptive sampling probabilities restored"
                    ),
                    Err(e) => tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "adaptive sampling state unreadable; starting from the initial probability"
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "adaptive sampling state unreadable; starting from the initial probability"
                ),
            }
        }
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
            adaptive: Mutex::new(adaptive),
        });
        if store.config.strategies_file.is_some() {
            store.reload()?;
        }
        Ok(store)
    }

    /// The strategy for a service (the default one when the file does not name it); an adaptive
    /// service gets its learned per-operation probabilities.
    pub fn strategy(&self, service: &str) -> Arc<StrategyResponse> {
        self.strategy_of(None, service)
    }

    /// The strategy for a service of `tenant` (tenancy on): the file is shared by every tenant,
    /// the probabilities adaptive sampling learns are the tenant's own, from its own traffic.
    pub fn strategy_of(&self, tenant: Option<&str>, service: &str) -> Arc<StrategyResponse> {
        let strategies = self.current.read().clone();
        if self.adaptive_target(&strategies, service).is_none() {
            return strategies.for_service(service);
        }
        let adaptive = self.adaptive.lock();
        let config = adaptive.config();
        let mut per_operation = adaptive.operations(&adaptive_key(tenant, service));
        // Operations the file names keep its probability until they have a learned one.
        if let Some(ops) = strategies
            .services
            .get(service)
            .and_then(|s| s.operations.as_ref())
        {
            for (op, p) in &ops.per_operation {
                if !per_operation.iter().any(|(o, _)| o == op) {
                    per_operation.push((op.clone(), *p));
                }
            }
        }
        Arc::new(StrategyResponse {
            kind: StrategyKind::Probabilistic(config.initial_sampling_probability),
            operations: Some(OperationSampling {
                default_probability: config.initial_sampling_probability,
                default_lower_bound_traces_per_second: config.min_samples_per_second,
                default_upper_bound_traces_per_second: 0.0,
                per_operation,
            }),
        })
    }

    /// The target of an adaptive service, `None` when the service does not adapt: the file's
    /// `type: adaptive` entries (their `max_traces_per_second` as target), services the file does
    /// not name when its default strategy is adaptive or `--sampling-adaptive` is given.
    fn adaptive_target(&self, strategies: &Strategies, service: &str) -> Option<f64> {
        let configured = self
            .config
            .adaptive
            .as_ref()
            .map_or(1.0, |c| c.target_samples_per_second);
        if strategies.adaptive.iter().any(|s| s == service) {
            return Some(
                strategies
                    .adaptive_targets
                    .get(service)
                    .copied()
                    .unwrap_or(configured),
            );
        }
        if strategies.services.contains_key(service) {
            return None;
        }
        match strategies.adaptive_default {
            Some(target) => Some(target.unwrap_or(configured)),
            None => self.config.adaptive.as_ref().map(|_| configured),
        }
    }

    fn adapts_any(&self, strategies: &Strategies) -> bool {
        self.config.adaptive.is_some()
            || !strategies.adaptive.is_empty()
            || strategies.adaptive_default.is_some()
    }

    /// The probability an operation is told now (learned, the file's, or the initial one);
    /// `key` is the service's [`adaptive_key`].
    fn served_probability(
        &self,
        adaptive: &Adaptive,
        strategies: &Strategies,
        key: &str,
        op: &str,
    ) -> f64 {
        adaptive.probability(key, op).unwrap_or_else(|| {
            strategies
                .services
                .get(service_of(key))
                .and_then(|s| s.operations.as_ref())
                .and_then(|o| o.per_operation.iter().find(|(n, _)| n == op))
                .map_or(adaptive.config().initial_sampling_probability, |(_, p)| *p)
        })
    }

    /// Counts the stored root spans of adaptive services (called after the store took them).
    pub fn observe(&self, found: &[Root]) {
        let strategies = self.current.read().clone();
        let mut adaptive = self.adaptive.lock();
        let dropped_before = adaptive.dropped();
        for (key, op, stated) in found {
            if self.adaptive_target(&strategies, service_of(key)).is_none() {
                continue;
            }
            let (p, signal) = stated.unwrap_or_else(|| {
                (
                    self.served_probability(&adaptive, &strategies, key, op),
                    "served",
                )
            });
            adaptive.observe(key, op, p);
            self.metrics
                .adaptive_roots
                .get_or_create(&vec![("signal".to_string(), signal.to_string())])
                .inc();
        }
        let dropped = adaptive.dropped() - dropped_before;
        if dropped > 0 {
            self.metrics
                .adaptive_roots
                .get_or_create(&vec![("signal".to_string(), "dropped".to_string())])
                .inc_by(dropped);
        }
    }

    /// The root spans of a batch that adaptive sampling would count (empty when nothing adapts).
    pub fn adaptive_roots(&self, batch: &[spoor_model::ResourceSpans]) -> Vec<Root> {
        if !self.adapts_any(&self.current.read()) {
            return Vec::new();
        }
        roots(batch)
            .into_iter()
            .map(|(t, s, o, p)| (adaptive_key(t, s), o.to_string(), p))
            .collect()
    }

    /// Recalculates the adaptive probabilities as of `now` and saves them.
    pub fn recalculate(&self, now: std::time::Instant) {
        let strategies = self.current.read().clone();
        let json = {
            let mut adaptive = self.adaptive.lock();
            let target = |key: &str| {
                self.adaptive_target(&strategies, service_of(key))
                    .unwrap_or(adaptive_default_target(&self.config))
            };
            adaptive.tick(now, &target);
            adaptive.save()
        };
        self.metrics.adaptive_calculations.inc();
        if let Some(path) = &self.config.adaptive_state_file
            && let Err(e) = write_atomically(path, json.as_bytes())
        {
            tracing::warn!(file = %path.display(), error = %e, "adaptive sampling state not saved");
        }
    }

    /// Recalculates every `calculation_interval` until shutdown, when anything adapts.
    pub fn spawn_adaptive(self: &Arc<Self>, shutdown: CancellationToken) {
        let interval = self.adaptive.lock().config().calculation_interval;
        self.adaptive.lock().start(std::time::Instant::now());
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
                if !store.adapts_any(&store.current.read()) {
                    // Keep the bucket clock moving so a later reload starts with a fresh bucket.
                    store.adaptive.lock().start(std::time::Instant::now());
                    continue;
                }
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    store.recalculate(std::time::Instant::now());
                })
                .await;
            }
        });
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
        if !parsed.strategies.adaptive.is_empty() || parsed.strategies.adaptive_default.is_some() {
            tracing::info!(
                services = ?parsed.strategies.adaptive,
                default = parsed.strategies.adaptive_default.is_some(),
                "sampling strategies: adaptive sampling for these services"
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

/// The name adaptive sampling keeps a service's state under: the service, prefixed by its
/// tenant and a NUL (which a tenant name cannot hold) with tenancy on, so tenants learn apart.
pub(crate) fn adaptive_key(tenant: Option<&str>, service: &str) -> String {
    match tenant {
        Some(t) => format!("{t}\0{service}"),
        None => service.to_string(),
    }
}

/// The service of an [`adaptive_key`].
fn service_of(key: &str) -> &str {
    key.split_once('\0').map_or(key, |(_, service)| service)
}

fn adaptive_default_target(config: &SamplingConfig) -> f64 {
    config
        .adaptive
        .as_ref()
        .map_or(1.0, |c| c.target_samples_per_second)
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// In front of the store: records each span's head survival probability (`sampling.probability`),
/// passes the batch on, and counts the roots the store accepted for adaptive sampling.
pub struct ObservingSink {
    inner: Arc<dyn spoor_model::TraceSink>,
    store: Arc<StrategyStore>,
}

impl ObservingSink {
    pub fn new(inner: Arc<dyn spoor_model::TraceSink>, store: Arc<StrategyStore>) -> Self {
        Self { inner, store }
    }
}

#[async_trait::async_trait]
impl spoor_model::TraceSink for ObservingSink {
    async fn consume(
        &self,
        batch: Vec<spoor_model::ResourceSpans>,
    ) -> Result<(), spoor_model::SinkError> {
        let mut batch = batch;
        super::survival::record_head(&mut batch);
        let found = self.store.adaptive_roots(&batch);
        self.inner.consume(batch).await?;
        if !found.is_empty() {
            self.store.observe(&found);
        }
        Ok(())
    }
}
