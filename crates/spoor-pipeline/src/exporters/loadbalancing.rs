//! `loadbalancing`: the Collector's load-balancing exporter. Spans are routed by trace id
//! (`routing_key: traceID`, the default) or by `service.name` (`routing_key: service`) over a
//! consistent-hash ring of backends, so every span of a trace (or of a service) goes to the same
//! backend, which tail sampling and per-node trace assembly need. Each backend is an `otlp`
//! exporter built from `protocol.otlp` with its own sending queue, retries and counters
//! (`spoor_exporter_*{exporter="<name>/<endpoint>"}`).
//!
//! Backends come from `resolver.static.hostnames` or from `resolver.dns` (every address of
//! `hostname`, looked up again every `interval`). When the set changes, the ring changes: only
//! the keys of the hash ranges that moved go elsewhere (about 1/N of them for one backend out of
//! N), batches already queued for a removed backend are still sent to it, and its queue closes
//! once empty. `docs/loadbalancing.md` explains what that means for a trace split by a change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration as StdDuration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use spoor_model::{ErrorKind, ResourceSpans, ScopeSpans, SinkError, TraceSink, service_name};
use tokio::task::JoinHandle;

use super::queue::QueuedExporter;
use super::{OtlpExporterConfig, OtlpGrpcExporter};
use crate::ConfigError;
use crate::config::Duration;
use crate::metrics::PipelineMetrics;
use crate::registry::{ComponentConfig, Spec};

/// Points of each backend on the ring: enough for an even spread over a few dozen backends.
const POINTS_PER_BACKEND: u32 = 128;
/// The gRPC port a hostname without one gets.
const DEFAULT_PORT: u16 = 4317;

/// `routing_key`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutingKey {
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    #[serde(rename = "service")]
    Service,
}

/// `protocol`: how a backend is reached (only `otlp`, as in the Collector).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    pub otlp: OtlpExporterConfig,
}

/// `resolver.static`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    /// `host` or `host:port` (port 4317 when absent).
    pub hostnames: Vec<String>,
}

/// `resolver.dns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    pub hostname: String,
    pub port: u16,
    /// How often the name is looked up again.
    pub interval: Duration,
    /// Deadline of one lookup.
    pub timeout: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            port: DEFAULT_PORT,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

/// `resolver`: exactly one of `static` and `dns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resolver {
    #[serde(rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_: Option<StaticResolver>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsResolver>,
}

/// `exporters.loadbalancing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBalancingConfig {
    pub routing_key: RoutingKey,
    pub protocol: Protocol,
    pub resolver: Resolver,
}

/// The options with their defaults, both resolvers shown (for the registry's documentation check).
pub(crate) fn documented_defaults() -> serde_json::Value {
    let config = LoadBalancingConfig {
        resolver: Resolver {
            static_: Some(StaticResolver::default()),
            dns: Some(DnsResolver::default()),
        },
        ..LoadBalancingConfig::default()
    };
    serde_json::to_value(config).unwrap_or(serde_json::Value::Null)
}

/// `host:port` of a static hostname.
fn with_port(host: &str) -> String {
    let host = host.trim();
    let bare = host.rsplit_once("://").map_or(host, |(_, rest)| rest);
    if bare
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !bare.ends_with(']')
    {
        bare.to_string()
    } else {
        format!("{bare}:{DEFAULT_PORT}")
    }
}

impl ComponentConfig for LoadBalancingConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let otlp = &self.protocol.otlp;
        if !otlp.endpoint.is_empty() {
            errors.push(ConfigError::new(
                "protocol.otlp.endpoint",
                "is set by the resolver; remove it",
            ));
        }
        if otlp.sending_queue.storage.is_some() {
            errors.push(ConfigError::new(
                "protocol.otlp.sending_queue.storage",
                "a persistent queue per backend is not in this build; put the persistent queue on an otlp exporter in front, or leave it out",
            ));
        }
        // The otlp settings, checked as they will be used, with a stand-in endpoint.
        let probe = OtlpExporterConfig {
            endpoint: "backend:4317".to_string(),
            ..otlp.clone()
        };
        for e in probe.validate() {
            errors.push(ConfigError::new(
                format!("protocol.otlp.{}", e.path),
                e.message,
            ));
        }
        match (&self.resolver.static_, &self.resolver.dns) {
            (None, None) => errors.push(ConfigError::new(
                "resolver",
                "needs static (hostnames) or dns (hostname)",
            )),
            (Some(_), Some(_)) => errors.push(ConfigError::new(
                "resolver",
                "static and dns are exclusive; keep one",
            )),
            (Some(s), None) => {
                if s.hostnames.is_empty() {
                    errors.push(ConfigError::new(
                        "resolver.static.hostnames",
                        "must list at least one backend",
                    ));
                }
                for (i, h) in s.hostnames.iter().enumerate() {
                    let url = format!("http://{}", with_port(h));
                    if h.trim().is_empty() || tonic::transport::Endpoint::from_shared(url).is_err()
                    {
                        errors.push(ConfigError::new(
                            format!("resolver.static.hostnames[{i}]"),
                            format!("invalid backend {h:?}; expected host or host:port"),
                        ));
                    }
                }
            }
            (None, Some(d)) => {
                if d.hostname.trim().is_empty() {
                    errors.push(ConfigError::new("resolver.dns.hostname", "is required"));
                }
                if d.port == 0 {
                    errors.push(ConfigError::new("resolver.dns.port", "must not be 0"));
                }
                if d.interval.get().is_zero() {
                    errors.push(ConfigError::new(
                        "resolver.dns.interval",
                        "must be greater than 0",
                    ));
                }
                if d.timeout.get().is_zero() {
                    errors.push(ConfigError::new(
                        "resolver.dns.timeout",
                        "must be greater than 0",
                    ));
                }
            }
        }
        errors
    }
    fn into_spec(self) -> Spec {
        Spec::LoadBalancing(self)
    }
}

/// FNV-1a, 64 bits: stable across processes and versions, so every front collector with the
/// same backends routes a key the same way.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV mixes the last bytes poorly into the high bits; finish with a murmur-style avalanche.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// A consistent-hash ring over backend endpoints.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring {
    points: Vec<(u64, usize)>,
    endpoints: Vec<String>,
}

impl Ring {
    pub(crate) fn new(mut endpoints: Vec<String>) -> Self {
        endpoints.sort();
        endpoints.dedup();
        let mut points = Vec::with_capacity(endpoints.len() * POINTS_PER_BACKEND as usize);
        for (i, e) in endpoints.iter().enumerate() {
            for p in 0..POINTS_PER_BACKEND {
                points.push((fnv64(format!("{e}#{p}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        Self { points, endpoints }
    }

    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The backend owning `key`: the first point at or after its hash, wrapping around.
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = fnv64(key);
        let i = self.points.partition_point(|(p, _)| *p < h) % self.points.len();
        self.points
            .get(i)
            .and_then(|(_, b)| self.endpoints.get(*b))
            .map(String::as_str)
    }
}

/// Splits a batch by backend: the spans of one trace (or the resources of one service) stay
/// together; resource and scope are copied to every part that has their spans.
pub(crate) fn partition(
    batch: Vec<ResourceSpans>,
    key: RoutingKey,
    ring: &Ring,
) -> BTreeMap<String, Vec<ResourceSpans>> {
    let mut out: BTreeMap<String, Vec<ResourceSpans>> = BTreeMap::new();
    for rs in batch {
        if key == RoutingKey::Service {
            let service = service_name(rs.resource.as_ref()).to_string();
            if let Some(b) = ring.lookup(service.as_bytes()) {
                out.entry(b.to_string()).or_default().push(rs);
            }
            continue;
        }
        let mut parts: BTreeMap<&str, ResourceSpans> = BTreeMap::new();
        for ss in rs.scope_spans {
            let mut scopes: BTreeMap<&str, ScopeSpans> = BTreeMap::new();
            for span in ss.spans {
                let Some(b) = ring.lookup(&span.trace_id) else {
                    continue;
                };
                scopes
                    .entry(b)
                    .or_insert_with(|| ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss.schema_url.clone(),
                    })
                    .spans
                    .push(span);
            }
            for (b, scope) in scopes {
                parts
                    .entry(b)
                    .or_insert_with(|| ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs.schema_url.clone(),
                    })
                    .scope_spans
                    .push(scope);
            }
        }
        for (b, part) in parts {
            out.entry(b.to_string()).or_default().push(part);
        }
    }
    out
}

type LateTasks = Arc<parking_lot::Mutex<Vec<JoinHandle<()>>>>;

/// The ring and one queued otlp exporter per backend.
struct State {
    ring: Ring,
    backends: HashMap<String, Arc<QueuedExporter>>,
}

/// The running exporter: a synchronous pipeline target that routes and enqueues.
pub struct LoadBalancer {
    name: String,
    key: RoutingKey,
    otlp: OtlpExporterConfig,
    metrics: PipelineMetrics,
    state: RwLock<State>,
    /// Consumer tasks of backends created after start (DNS changes), drained at shutdown.
    late_tasks: LateTasks,
}

impl LoadBalancer {
    /// Builds the exporter; returns it and the tasks the graph waits for at shutdown (the
    /// static backends' queues, or the DNS resolver, which drains the queues it created).
    pub fn start(
        name: String,
        config: &LoadBalancingConfig,
        metrics: PipelineMetrics,
    ) -> Result<(Arc<Self>, Vec<JoinHandle<()>>), ConfigError> {
        let lb = Arc::new(Self {
            name,
            key: config.routing_key,
            otlp: config.protocol.otlp.clone(),
            metrics,
            state: RwLock::new(State {
                ring: Ring::default(),
                backends: HashMap::new(),
            }),
            late_tasks: LateTasks::default(),
        });
        let mut tasks = Vec::new();
        if let Some(s) = &config.resolver.static_ {
            let endpoints: Vec<String> = s.hostnames.iter().map(|h| with_port(h)).collect();
            tasks.extend(lb.set_backends(endpoints)?);
        }
        if let Some(d) = config.resolver.dns.clone() {
            let late = lb.late_tasks.clone();
            tasks.push(tokio::spawn(resolve_loop(Arc::downgrade(&lb), late, d)));
        }
        Ok((lb, tasks))
    }

    /// Replaces the backend set; returns the consumer tasks of the new backends.
    fn set_backends(&self, endpoints: Vec<String>) -> Result<Vec<JoinHandle<()>>, ConfigError> {
        let ring = Ring::new(endpoints);
        let mut tasks = Vec::new();
        let mut backends = HashMap::new();
        {
            let state = self.state.read();
            if state.ring.endpoints() == ring.endpoints() {
                return Ok(tasks);
            }
            for e in ring.endpoints() {
                if let Some(q) = state.backends.get(e) {
                    backends.insert(e.clone(), q.clone());
                }
            }
        }
        for e in ring.endpoints() {
            if backends.contains_key(e) {
                continue;
            }
            let config = OtlpExporterConfig {
                endpoint: e.clone(),
                ..self.otlp.clone()
            };
            let exporter = Arc::new(OtlpGrpcExporter::new(&config)?);
            let name = format!("{}/{e}", self.name);
            let counters = self.metrics.exporter(&name);
            let (queued, t) = QueuedExporter::start(
                name,
                exporter,
                &config.sending_queue,
                config.retry_on_failure.clone(),
                counters,
                None,
            );
            tasks.extend(t);
            backends.insert(e.clone(), Arc::new(queued));
        }
        tracing::info!(exporter = %self.name, backends = ?ring.endpoints(), "loadbalancing: backends changed");
        // Dropping a removed backend's queue lets its consumers send what it holds and stop.
        *self.state.write() = State { ring, backends };
        Ok(tasks)
    }
}

/// Looks the DNS name up every `interval` while the exporter lives; then waits for the queues
/// it created to drain.
async fn resolve_loop(lb: Weak<LoadBalancer>, late: LateTasks, dns: DnsResolver) {
    let mut next = tokio::time::Instant::now();
    loop {
        let Some(this) = lb.upgrade() else { break };
        if tokio::time::Instant::now() >= next {
            next += dns.interval.get();
            let host = format!("{}:{}", dns.hostname, dns.port);
            match tokio::time::timeout(dns.timeout.get(), tokio::net::lookup_host(host.clone()))
                .await
            {
                Ok(Ok(addrs)) => {
                    let endpoints: Vec<String> = addrs.map(|a| a.to_string()).collect();
                    if endpoints.is_empty() {
                        tracing::warn!(exporter = %this.name, %host, "loadbalancing: the name resolved to no address; keeping the backends");
                    } else {
                        match this.set_backends(endpoints) {
                            Ok(t) => this.late_tasks.lock().extend(t),
                            Err(e) => {
                                tracing::error!(exporter = %this.name, error = %e, "loadbalancing: cannot build a backend")
                            }
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(exporter = %this.name, %host, error = %e, "loadbalancing: DNS lookup failed; keeping the backends")
                }
                Err(_) => {
                    tracing::warn!(exporter = %this.name, %host, "loadbalancing: DNS lookup timed out; keeping the backends")
                }
            }
        }
        drop(this);
        tokio::time::sleep(StdDuration::from_millis(100).min(dns.interval.get())).await;
    }
    // The exporter is gone (shutdown): the queues it created drain; wait for them as the graph
    // waits for the queues of other exporters.
    let tasks = std::mem::take(&mut *late.lock());
    futures::future::join_all(tasks).await;
}

#[async_trait::async_trait]
impl TraceSink for LoadBalancer {
    async fn consume(&self, batch: Vec<ResourceSpans>) -> Result<(), SinkError> {
        let (parts, backends) = {
            let state = self.state.read();
            if state.ring.endpoints().is_empty() {
                return Err(SinkError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "exporter {}: no backend resolved yet; retry later",
                        self.name
                    ),
                ));
            }
            (
                partition(batch, self.key, &state.ring),
                state.backends.clone(),
            )
        };
        let mut full = Vec::new();
        for (endpoint, part) in parts {
            let Some(q) = backends.get(&endpoint) else {
                continue;
            };
            if !q.enqueue(part).await {
                full.push(endpoint);
            }
        }
        if full.is_empty() {
            return Ok(());
        }
        Err(SinkError::new(
            ErrorKind::Overloaded,
            format!(
                "exporter {}: the sending queue of backend {} is full; retry later",
                self.name,
                full.join(", ")
            ),
        ))
    }
}
