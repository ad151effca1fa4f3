//! Service graph from spans, as the Collector's `servicegraph` connector builds it: a client
//! (or producer) span and the server (or consumer) span whose parent it is make one edge
//! `client → server`; the two sides wait in a bounded store for up to `ttl`. A client side
//! still alone after `ttl` becomes an edge to a virtual node named by its peer attributes
//! (`peer.service`, `db.system`, …: uninstrumented databases and object stores appear); a root
//! server span alone becomes an edge from the virtual node `user`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, attr, service_name};
use spoor_query::dependencies::DependencyStore;

use super::openmetrics::{Histogram, labels, number};

/// Settings of [`ServiceGraph`].
#[derive(Debug, Clone)]
pub struct ServiceGraphConfig {
    /// How long one side of an edge waits for the other.
    pub ttl: Duration,
    /// Most half-edges waiting; spans beyond are counted as dropped.
    pub max_items: usize,
    /// Most edges (client, server, type) kept.
    pub max_edges: usize,
    /// Attributes naming the peer of an unpaired client span, first found wins.
    pub virtual_node_peer_attributes: Vec<String>,
    /// A client span with this attribute is at once an edge to the database it names
    /// (`connection_type="database"`), as the Collector's `database_name_attribute`.
    pub database_name_attribute: Option<String>,
    /// Span (then resource) attributes added as `client_<name>` and `server_<name>` labels.
    pub dimensions: Vec<String>,
    /// Histogram bucket bounds, in seconds.
    pub bounds: Vec<f64>,
}

impl Default for ServiceGraphConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(2),
            max_items: 10_000,
            max_edges: 10_000,
            virtual_node_peer_attributes: [
                "peer.service",
                "db.system",
                "db.name",
                "server.address",
                "messaging.system",
                "rpc.service",
            ]
            .map(String::from)
            .to_vec(),
            database_name_attribute: None,
            dimensions: Vec::new(),
            bounds: BOUNDS.to_vec(),
        }
    }
}

const BOUNDS: [f64; 12] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
];

/// One side of an edge, waiting.
#[derive(Clone)]
struct Half {
    service: String,
    seconds: f64,
    failed: bool,
    /// Client side: the virtual peer and its connection type, if any attribute names one.
    peer: Option<(String, &'static str)>,
    /// Server side: it has no parent (the edge comes from `user`).
    root: bool,
    messaging: bool,
    /// Values of the configured dimensions.
    dims: Vec<Option<String>>,
    /// The `spoor.tenant` resource attribute (tenancy on): the edge's `tenant` label.
    tenant: Option<String>,
    /// The span's start, unix nanoseconds (the edge's time in the dependency store).
    start: u64,
}

#[derive(Default)]
struct Pending {
    client: Option<Half>,
    server: Option<Half>,
    since: Option<Instant>,
}

/// One series: the edge and its dimension labels.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EdgeKey {
    pub(crate) client: String,
    pub(crate) server: String,
    pub(crate) ty: &'static str,
    pub(crate) dims: Vec<(String, String)>,
}

impl EdgeKey {
    /// The labels: `client`, `server`, `connection_type` (when set), then the dimensions.
    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        let mut l = vec![
            ("client".to_string(), self.client.clone()),
            ("server".to_string(), self.server.clone()),
        ];
        if !self.ty.is_empty() {
            l.push(("connection_type".to_string(), self.ty.to_string()));
        }
        l.extend(self.dims.iter().cloned());
        l
    }
}

#[derive(Default)]
pub(crate) struct EdgeStats {
    pub(crate) total: u64,
    pub(crate) failed: u64,
    pub(crate) server: Option<Histogram>,
    pub(crate) client: Option<Histogram>,
}

#[derive(Default)]
struct State {
    pending: HashMap<(Vec<u8>, Vec<u8>), Pending>,
    edges: HashMap<EdgeKey, EdgeStats>,
    unpaired_client: u64,
    unpaired_server: u64,
    dropped: u64,
}

/// The service graph aggregator.
pub struct ServiceGraph {
    config: ServiceGraphConfig,
    state: Mutex<State>,
    /// Where edges are also counted per minute, for `/api/dependencies`.
    dependencies: Option<Arc<DependencyStore>>,
}

/// One span's half-edge, computed before the batch is handed on.
pub(crate) struct GraphObservation {
    key: (Vec<u8>, Vec<u8>),
    client: bool,
    /// A client span naming its database (`database_name_attribute`): an edge at once.
    database: Option<String>,
    half: Half,
}

impl ServiceGraph {
    pub fn new(config: ServiceGraphConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
            dependencies: None,
        }
    }

    /// Also counts every edge (except those from the virtual `user` node) in `store`, under
    /// the minute its client side started.
    pub fn with_dependencies(mut self, store: Arc<DependencyStore>) -> Self {
        self.dependencies = Some(store);
        self
    }

    pub(crate) fn prepare(&self, batch: &[ResourceSpans]) -> Vec<GraphObservation> {
        let mut out = Vec::new();
        for rs in batch {
            let service = service_name(rs.resource.as_ref());
            let resource_attrs: &[spoor_model::otlp_common::KeyValue] =
                rs.resource.as_ref().map_or(&[], |r| &r.attributes);
            let tenant = attr::find_str(resource_attrs, spoor_receivers::tenant::TENANT_ATTRIBUTE)
                .map(str::to_string);
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                // 2 server, 3 client, 4 producer, 5 consumer.
                let client = matches!(span.kind, 3 | 4);
                if !client && !matches!(span.kind, 2 | 5) {
                    continue;
                }
                let key = if client {
                    (span.trace_id.clone(), span.span_id.clone())
                } else {
                    (span.trace_id.clone(), span.parent_span_id.clone())
                };
                let peer = if client {
                    self.config
                        .virtual_node_peer_attributes
                        .iter()
                        .find_map(|k| attr::find_str(&span.attributes, k).map(|v| (k, v)))
                        .map(|(k, v)| (v.to_string(), connection_type(k, span.kind)))
                } else {
                    None
                };
                let database = if client {
                    self.config
                        .database_name_attribute
                        .as_deref()
                        .and_then(|k| attr::find_str(&span.attributes, k))
                        .map(str::to_string)
                } else {
                    None
                };
                let dims = self
                    .config
                    .dimensions
                    .iter()
                    .map(|d| {
                        attr::find_str(&span.attributes, d)
                            .or_else(|| attr::find_str(resource_attrs, d))
                            .map(str::to_string)
                    })
                    .collect();
                out.push(GraphObservation {
                    key,
                    client,
                    database,
                    half: Half {
                        service: service.to_string(),
                        seconds: span
                            .end_time_unix_nano
                            .saturating_sub(span.start_time_unix_nano)
                            as f64
                            / 1e9,
                        failed: span.status.as_ref().map(|s| s.code)
                            == Some(StatusCode::Error as i32),
                        peer,
                        root: span.parent_span_id.iter().all(|b| *b == 0),
                        messaging: matches!(span.kind, 4 | 5),
                        dims,
                        tenant: tenant.clone(),
                        start: span.start_time_unix_nano,
                    },
                });
            }
        }
        out
    }

    pub(crate) fn apply(&self, observations: Vec<GraphObservation>, now: Instant) {
        let mut state = self.state.lock();
        for o in observations {
            if let Some(db) = &o.database {
                let c = &o.half;
                self.record(
                    &mut state,
                    (c, None),
                    db,
                    "database",
                    c.failed,
                    Some(c.seconds),
                    None,
                    Some(c.start),
                );
                continue;
            }
            let full = state.pending.len() >= self.config.max_items;
            let Some(p) = (if full && !state.pending.contains_key(&o.key) {
                None
            } else {
                Some(state.pending.entry(o.key.clone()).or_default())
            }) else {
                state.dropped += 1;
                continue;
            };
            p.since.get_or_insert(now);
            if o.client {
                p.client = Some(o.half);
            } else {
                p.server = Some(o.half);
            }
            if let (Some(c), Some(s)) = (&p.client, &p.server) {
                let ty = if c.messaging || s.messaging {
                    "messaging_system"
                } else {
                    ""
                };
                let (c, s) = (c.clone(), s.clone());
                state.pending.remove(&o.key);
                self.record(
                    &mut state,
                    (&c, Some(&s)),
                    &s.service,
                    ty,
                    c.failed || s.failed,
                    Some(c.seconds),
                    Some(s.seconds),
                    Some(c.start),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        state: &mut State,
        (client_half, server_half): (&Half, Option<&Half>),
        server: &str,
        ty: &'static str,
        failed: bool,
        client_seconds: Option<f64>,
        server_seconds: Option<f64>,
        at: Option<u64>,
    ) {
        let client = client_half.service.as_str();
        if let (Some(store), Some(at)) = (&self.dependencies, at) {
            store.add(at, client, server, 1);
        }
        let mut dims = Vec::new();
        for (i, d) in self.config.dimensions.iter().enumerate() {
            let name = super::openmetrics::label_name(d);
            if let Some(Some(v)) = client_half.dims.get(i) {
                dims.push((format!("client_{name}"), v.clone()));
            }
            if let Some(Some(v)) = server_half.and_then(|s| s.dims.get(i)) {
                dims.push((format!("server_{name}"), v.clone()));
            }
        }
        // Tenancy on: each tenant's edges are series of their own (the client side names it;
        // both sides of a pair come from one tenant's traffic).
        if let Some(t) = client_half
            .tenant
            .as_ref()
            .or(server_half.and_then(|s| s.tenant.as_ref()))
        {
            dims.push(("tenant".to_string(), t.clone()));
        }
        let key = EdgeKey {
            client: client.to_string(),
            server: server.to_string(),
            ty,
            dims,
        };
        if state.edges.len() >= self.config.max_edges && !state.edges.contains_key(&key) {
            state.dropped += 1;
            return;
        }
        let e = state.edges.entry(key).or_default();
        e.total += 1;
        if failed {
            e.failed += 1;
        }
        let bounds = &self.config.bounds;
        if let Some(v) = client_seconds {
            e.client
                .get_or_insert_with(|| Histogram::new(bounds.len()))
                .observe(bounds, v, 1.0);
        }
        if let Some(v) = server_seconds {
            e.server
                .get_or_insert_with(|| Histogram::new(bounds.len()))
                .observe(bounds, v, 1.0);
        }
    }

    /// Expires half-edges older than the ttl: virtual nodes where they can be named, unpaired
    /// counts otherwise. Returns how many expired.
    pub fn expire(&self, now: Instant) -> usize {
        let ttl = self.config.ttl;
        let mut state = self.state.lock();
        let old: Vec<_> = state
            .pending
            .iter()
            .filter(|(_, p)| {
                p.since
                    .is_some_and(|t| now.saturating_duration_since(t) >= ttl)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &old {
            let Some(p) = state.pending.remove(k) else {
                continue;
            };
            match (p.client, p.server) {
                (Some(c), None) => match &c.peer {
                    Some((peer, ty)) => self.record(
                        &mut state,
                        (&c, None),
                        peer,
                        ty,
                        c.failed,
                        Some(c.seconds),
                        None,
                        Some(c.start),
                    ),
                    None => state.unpaired_client += 1,
                },
                (None, Some(s)) if s.root => self.record(
                    &mut state,
                    (&user(&s), Some(&s)),
                    &s.service,
                    "virtual_node",
                    s.failed,
                    None,
                    Some(s.seconds),
                    None,
                ),
                (None, Some(_)) => state.unpaired_server += 1,
                _ => {}
            }
        }
        old.len()
    }

    /// Runs `f` over the edge table (under the lock: keep `f` short).
    pub(crate) fn with_edges<R>(&self, f: impl FnOnce(&HashMap<EdgeKey, EdgeStats>) -> R) -> R {
        f(&self.state.lock().edges)
    }

    /// Histogram bucket bounds, in seconds.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.config.bounds
    }

    /// The edges seen so far: (client, server, calls, failed).
    pub fn edges(&self) -> Vec<(String, String, u64, u64)> {
        let state = self.state.lock();
        let mut out: Vec<_> = state
            .edges
            .iter()
            .map(|(k, e)| (k.client.clone(), k.server.clone(), e.total, e.failed))
            .collect();
        out.sort();
        out
    }

    /// The Collector's families: `traces_service_graph_request_total`, `_failed_total`,
    /// `_server_seconds`, `_client_seconds`, and the unpaired and dropped counters.
    pub fn render(&self, out: &mut String) {
        let state = self.state.lock();
        let mut keys: Vec<_> = state.edges.keys().collect();
        keys.sort();
        let pairs = EdgeKey::pairs;
        for (family, help, failed) in [
            (
                "traces_service_graph_request",
                "Requests between two nodes.",
                false,
            ),
            (
                "traces_service_graph_request_failed",
                "Failed requests between two nodes.",
                true,
            ),
        ] {
            let _ = writeln!(out, "# TYPE {family} counter\n# HELP {family} {help}");
            for k in &keys {
                let e = &state.edges[*k];
                let v = if failed { e.failed } else { e.total };
                let _ = writeln!(out, "{family}_total{} {v}", labels(&pairs(k), None));
            }
        }
        for (family, server) in [
            ("traces_service_graph_request_server_seconds", true),
            ("traces_service_graph_request_client_seconds", false),
        ] {
            let _ = writeln!(
                out,
                "# TYPE {family} histogram\n# HELP {family} Request duration seen by the {} side.",
                if server { "server" } else { "client" }
            );
            for k in &keys {
                let e = &state.edges[*k];
                if let Some(h) = if server { &e.server } else { &e.client } {
                    h.write(out, family, &self.config.bounds, &pairs(k));
                }
            }
        }
        let _ = writeln!(
            out,
            "# TYPE traces_service_graph_unpaired_spans counter\n# HELP traces_service_graph_unpaired_spans Spans whose other side never arrived within the ttl."
        );
        for (side, n) in [
            ("client", state.unpaired_client),
            ("server", state.unpaired_server),
        ] {
            let _ = writeln!(
                out,
                "traces_service_graph_unpaired_spans_total{{side=\"{side}\"}} {}",
                number(n as f64)
            );
        }
        let _ = writeln!(
            out,
            "# TYPE traces_service_graph_dropped_spans counter\n# HELP traces_service_graph_dropped_spans Spans not paired because the store or the edge table was full."
        );
        let _ = writeln!(
            out,
            "traces_service_graph_dropped_spans_total {}",
            state.dropped
        );
    }
}

/// The virtual `user` node as the client side of a root server span.
fn user(server: &Half) -> Half {
    Half {
        service: "user".to_string(),
        dims: Vec::new(),
        peer: None,
        ..server.clone()
    }
}

fn connection_type(attribute: &str, kind: i32) -> &'static str {
    if attribute.starts_with("db.") {
        "database"
    } else if attribute.starts_with("messaging.") || kind == 4 {
        "messaging_system"
    } else {
        "virtual_node"
    }
}
