//! Service graph from spans, as the Collector's `servicegraph` connector builds it: a client
//! (or producer) span and the server (or consumer) span whose parent it is make one edge
//! `client → server`; the two sides wait in a bounded store for up to `ttl`. A client side
//! still alone after `ttl` becomes an edge to a virtual node named by its peer attributes
//! (`peer.service`, `db.system`, …: uninstrumented databases and object stores appear); a root
//! server span alone becomes an edge from the virtual node `user`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, attr, service_name};

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
}

#[derive(Default)]
struct Pending {
    client: Option<Half>,
    server: Option<Half>,
    since: Option<Instant>,
}

#[derive(Default)]
struct EdgeStats {
    total: u64,
    failed: u64,
    server: Option<Histogram>,
    client: Option<Histogram>,
}

#[derive(Default)]
struct State {
    pending: HashMap<(Vec<u8>, Vec<u8>), Pending>,
    edges: HashMap<(String, String, &'static str), EdgeStats>,
    unpaired_client: u64,
    unpaired_server: u64,
    dropped: u64,
}

/// The service graph aggregator.
pub struct ServiceGraph {
    config: ServiceGraphConfig,
    state: Mutex<State>,
}

/// One span's half-edge, computed before the batch is handed on.
pub(crate) struct GraphObservation {
    key: (Vec<u8>, Vec<u8>),
    client: bool,
    half: Half,
}

impl ServiceGraph {
    pub fn new(config: ServiceGraphConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn prepare(&self, batch: &[ResourceSpans]) -> Vec<GraphObservation> {
        let mut out = Vec::new();
        for rs in batch {
            let service = service_name(rs.resource.as_ref());
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
                out.push(GraphObservation {
                    key,
                    client,
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
                    },
                });
            }
        }
        out
    }

    pub(crate) fn apply(&self, observations: Vec<GraphObservation>, now: Instant) {
        let mut state = self.state.lock();
        for o in observations {
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
                    &c.service,
                    &s.service,
                    ty,
                    c.failed || s.failed,
                    Some(c.seconds),
                    Some(s.seconds),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        state: &mut State,
        client: &str,
        server: &str,
        ty: &'static str,
        failed: bool,
        client_seconds: Option<f64>,
        server_seconds: Option<f64>,
    ) {
        let key = (client.to_string(), server.to_string(), ty);
        if state.edges.len() >= self.config.max_edges && !state.edges.contains_key(&key) {
            state.dropped += 1;
            return;
        }
        let e = state.edges.entry(key).or_default();
        e.total += 1;
        if failed {
            e.failed += 1;
        }
        if let Some(v) = client_seconds {
            e.client
                .get_or_insert_with(|| Histogram::new(BOUNDS.len()))
                .observe(&BOUNDS, v, 1.0);
        }
        if let Some(v) = server_seconds {
            e.server
                .get_or_insert_with(|| Histogram::new(BOUNDS.len()))
                .observe(&BOUNDS, v, 1.0);
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
                        &c.service,
                        peer,
                        ty,
                        c.failed,
                        Some(c.seconds),
                        None,
                    ),
                    None => state.unpaired_client += 1,
                },
                (None, Some(s)) if s.root => self.record(
                    &mut state,
                    "user",
                    &s.service,
                    "virtual_node",
                    s.failed,
                    None,
                    Some(s.seconds),
                ),
                (None, Some(_)) => state.unpaired_server += 1,
                _ => {}
            }
        }
        old.len()
    }

    /// The edges seen so far: (client, server, calls, failed).
    pub fn edges(&self) -> Vec<(String, String, u64, u64)> {
        let state = self.state.lock();
        let mut out: Vec<_> = state
            .edges
            .iter()
            .map(|((c, s, _), e)| (c.clone(), s.clone(), e.total, e.failed))
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
        let pairs = |(c, s, ty): &(String, String, &'static str)| {
            let mut l = vec![
                ("client".to_string(), c.clone()),
                ("server".to_string(), s.clone()),
            ];
            if !ty.is_empty() {
                l.push(("connection_type".to_string(), ty.to_string()));
            }
            l
        };
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
                    h.write(out, family, &BOUNDS, &pairs(k));
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

fn connection_type(attribute: &str, kind: i32) -> &'static str {
    if attribute.starts_with("db.") {
        "database"
    } else if attribute.starts_with("messaging.") || kind == 4 {
        "messaging_system"
    } else {
        "virtual_node"
    }
}
