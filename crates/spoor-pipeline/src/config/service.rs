//! `service:` — which extensions run and which pipelines connect which components.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use super::tree::{Node, Value};
use super::{ComponentId, Config, Diagnostics};
use crate::registry::{Kind, Spec};

/// The data type a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// `traces`, `traces/name`, `metrics`, …
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub signal: Signal,
    pub name: Option<String>,
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal.as_str(), n),
            None => f.write_str(self.signal.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSpec {
    pub id: PipelineId,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    pub extensions: Vec<ComponentId>,
    pub pipelines: Vec<PipelineSpec>,
    /// Accepted as written; Spoor's own logs and metrics are set by flags.
    pub telemetry: serde_json::Value,
}

impl Service {
    pub fn effective(&self) -> serde_json::Value {
        let ids = |v: &[ComponentId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        let pipelines: serde_json::Map<String, serde_json::Value> = self
            .pipelines
            .iter()
            .map(|p| {
                (
                    p.id.to_string(),
                    serde_json::json!({
                        "receivers": ids(&p.receivers),
                        "processors": ids(&p.processors),
                        "exporters": ids(&p.exporters),
                    }),
                )
            })
            .collect();
        let mut out = serde_json::json!({
            "extensions": ids(&self.extensions),
            "pipelines": pipelines,
        });
        if !self.telemetry.is_null()
            && let Some(m) = out.as_object_mut()
        {
            m.insert("telemetry".into(), self.telemetry.clone());
        }
        out
    }
}

/// Only checks the shape of a pipeline (known keys, lists); the ids are read from the tree.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawPipeline {
    #[serde(default)]
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    #[serde(default)]
    exporters: Vec<String>,
}

pub(super) fn validate(node: Option<&Node>, config: &Config, diags: &mut Diagnostics) -> Service {
    let mut service = Service::default();
    let Some(node) = node else {
        diags.error(
            "service",
            &Default::default(),
            "missing: a config needs service.pipelines",
        );
        return service;
    };
    let Some(entries) = node.map() else {
        diags.error(
            "service",
            &node.pos,
            "must be a mapping with extensions, pipelines and telemetry",
        );
        return service;
    };
    for (key, value) in entries {
        match key.as_str() {
            "extensions" => service.extensions = extension_ids(value, config, diags),
            "pipelines" => service.pipelines = pipelines(value, config, diags),
            "telemetry" => {
                service.telemetry = value.to_json();
                if service.telemetry.as_object().is_some_and(|m| !m.is_empty()) {
                    diags.warn(
                        "service.telemetry",
                        &value.pos,
                        "accepted but not applied: Spoor's own log level is set by --log and its metrics are served at /metrics on the admin listener (--admin-http)",
                    );
                }
            }
            _ => diags.error(
                format!("service.{key}"),
                &value.pos,
                "unknown key; expected extensions, pipelines or telemetry",
            ),
        }
    }
    if service.pipelines.is_empty() && !entries.iter().any(|(k, _)| k == "pipelines") {
        diags.error(
            "service.pipelines",
            &node.pos,
            "missing: at least one pipeline is needed",
        );
    }
    check_connectors(&service, config, diags);
    check_signals(&service, config, diags);
    check_unused(&service, config, diags);
    check_queue_storage(&service, config, diags);
    check_receiver_auth(&service, config, diags);
    service
}

fn id_list(node: &Node, path: &str, diags: &mut Diagnostics) -> Vec<(ComponentId, usize)> {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return Vec::new(),
        _ => {
            diags.error(path, &node.pos, "must be a list of component ids");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Str(s) = &item.value else {
            diags.error(
                format!("{path}[{i}]"),
                &item.pos,
                "must be a component id (a string)",
            );
            continue;
        };
        match ComponentId::parse(s) {
            Ok(id) => out.push((id, i)),
            Err(e) => diags.error(format!("{path}[{i}]"), &item.pos, e),
        }
    }
    out
}

fn extension_ids(node: &Node, config: &Config, diags: &mut Diagnostics) -> Vec<ComponentId> {
    let mut out = Vec::new();
    for (id, i) in id_list(node, "service.extensions", diags) {
        if config.component(Kind::Extension, &id).is_none() {
            diags.error(
                format!("service.extensions[{i}]"),
                node.pos_at(&format!("[{i}]")),
                format!("extension {id} is not defined under extensions"),
            );
        } else {
            out.push(id);
        }
    }
    out
}

fn pipelines(node: &Node, config: &Config, diags: &mut Diagnostics) -> Vec<PipelineSpec> {
    let Some(entries) = node.map() else {
        diags.error(
            "service.pipelines",
            &node.pos,
            "must be a mapping of pipeline ids (traces, traces/name, metrics, logs)",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let path = format!("service.pipelines.{key}");
        let (signal_text, name) = match key.split_once('/') {
            Some((s, n)) => (s, Some(n.to_string())),
            None => (key.as_str(), None),
        };
        let signal = match signal_text {
            "traces" => Signal::Traces,
            "metrics" => Signal::Metrics,
            "logs" => Signal::Logs,
            other => {
                diags.error(
                    path,
                    &value.pos,
                    format!("unknown signal {other:?}; expected traces, metrics or logs"),
                );
                continue;
            }
        };
        if let Some(fields) = value.map() {
            if let Err(e) = serde_path_to_error::deserialize::<_, RawPipeline>(value.to_json()) {
                diags.error(
                    format!("{path}.{}", e.path()),
                    &value.pos,
                    e.inner().to_string(),
                );
                continue;
            }
            let _ = fields;
        } else {
            diags.error(
                path,
                &value.pos,
                "must be a mapping with receivers, processors and exporters",
            );
            continue;
        }
        let id = PipelineId { signal, name };
        let mut spec = PipelineSpec {
            id,
            receivers: Vec::new(),
            processors: Vec::new(),
            exporters: Vec::new(),
        };
        let lists: [(&str, &[Kind]); 3] = [
            ("receivers", &[Kind::Receiver, Kind::Connector]),
            ("processors", &[Kind::Processor]),
            ("exporters", &[Kind::Exporter, Kind::Connector]),
        ];
        for (field, kinds) in lists {
            let Some(list) = value.get(field) else {
                continue;
            };
            let mut seen = BTreeSet::new();
            for (cid, i) in id_list(list, &format!("{path}.{field}"), diags) {
                let item_path = format!("{path}.{field}[{i}]");
                let pos = list.pos_at(&format!("[{i}]"));
                if !kinds.iter().any(|k| config.component(*k, &cid).is_some()) {
                    let sections = kinds
                        .iter()
                        .map(|k| k.section())
                        .collect::<Vec<_>>()
                        .join(" or ");
                    diags.error(
                        item_path,
                        pos,
                        format!("{cid} is not defined under {sections}"),
                    );
                    continue;
                }
                if !seen.insert(cid.clone()) {
                    diags.error(
                        item_path,
                        pos,
                        format!("{cid} is listed twice in this pipeline"),
                    );
                    continue;
                }
                match field {
                    "receivers" => spec.receivers.push(cid),
                    "processors" => spec.processors.push(cid),
                    _ => spec.exporters.push(cid),
                }
            }
        }
        if spec.receivers.is_empty() {
            diags.error(
                format!("{path}.receivers"),
                &value.pos,
                "a pipeline needs at least one receiver",
            );
        }
        if spec.exporters.is_empty() {
            diags.error(
                format!("{path}.exporters"),
                &value.pos,
                "a pipeline needs at least one exporter",
            );
        }
        out.push(spec);
    }
    out
}

/// Every connector joins pipelines (exporter of one, receiver of another), and no chain of
/// connectors leads a pipeline back to itself.
fn check_connectors(service: &Service, config: &Config, diags: &mut Diagnostics) {
    let pos = Default::default();
    for c in &config.connectors {
        let as_exporter = service
            .pipelines
            .iter()
            .any(|p| p.exporters.contains(&c.id));
        let as_receiver = service
            .pipelines
            .iter()
            .any(|p| p.receivers.contains(&c.id));
        if as_exporter != as_receiver {
            diags.error(
                format!("connectors.{}", c.id),
                &pos,
                "a connector must be used both as an exporter of one pipeline and as a receiver of another",
            );
        }
    }
    // Edges: pipeline → pipelines that receive from a connector it exports to.
    let mut edges: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in service.pipelines.iter().enumerate() {
        for e in p
            .exporters
            .iter()
            .filter(|e| config.component(Kind::Connector, e).is_some())
        {
            for (j, q) in service.pipelines.iter().enumerate() {
                if q.receivers.contains(e) {
                    edges.entry(i).or_default().push(j);
                }
            }
        }
    }
    let n = service.pipelines.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut stack = Vec::new();
    for start in 0..n {
        if let Some(cycle) = find_cycle(start, &edges, &mut state, &mut stack) {
            let names = cycle
                .iter()
                .map(|&i| service.pipelines[i].id.to_string())
                .collect::<Vec<_>>()
                .join(" → ");
            diags.error(
                "service.pipelines",
                &pos,
                format!("cycle through connectors: {names}"),
            );
            return;
        }
    }
}

fn find_cycle(
    v: usize,
    edges: &BTreeMap<usize, Vec<usize>>,
    state: &mut [u8],
    stack: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    match state[v] {
        2 => return None,
        1 => {
            let from = stack.iter().position(|&x| x == v).unwrap_or(0);
            let mut cycle = stack[from..].to_vec();
            cycle.push(v);
            return Some(cycle);
        }
        _ => {}
    }
    state[v] = 1;
    stack.push(v);
    for &w in edges.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(c) = find_cycle(w, edges, state, stack) {
            return Some(c);
        }
    }
    stack.pop();
    state[v] = 2;
    None
}

/// Every component of a pipeline can take the pipeline's signal (a `jaeger` exporter cannot take
/// metrics, a `prometheus` exporter cannot take spans).
fn check_signals(service: &Service, config: &Config, diags: &mut Diagnostics) {
    for p in &service.pipelines {
        let signal = p.id.signal;
        let lists = [
            (Kind::Receiver, "receivers", &p.receivers),
            (Kind::Processor, "processors", &p.processors),
            (Kind::Exporter, "exporters", &p.exporters),
        ];
        for (kind, field, ids) in lists {
            for id in ids.iter() {
                let Some(c) = config.component(kind, id) else {
                    continue;
                };
                if !c.spec.signals().contains(&signal) {
                    let takes = c
                        .spec
                        .signals()
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    diags.error(
                        format!("service.pipelines.{}.{field}", p.id),
                        &Default::default(),
                        format!(
                            "the {} {id} cannot take {}: it takes {takes}",
                            kind.name(),
                            signal.as_str()
                        ),
                    );
                }
            }
        }
    }
}

fn check_unused(service: &Service, config: &Config, diags: &mut Diagnostics) {
    let used = |kind: Kind, id: &ComponentId| match kind {
        Kind::Receiver => service.pipelines.iter().any(|p| p.receivers.contains(id)),
        Kind::Processor => service.pipelines.iter().any(|p| p.processors.contains(id)),
        Kind::Exporter => service.pipelines.iter().any(|p| p.exporters.contains(id)),
        Kind::Connector => true,
        Kind::Extension => service.extensions.contains(id),
    };
    for kind in Kind::ALL {
        for c in config.section(kind) {
            if !used(kind, &c.id) {
                diags.warn(
                    format!("{}.{}", kind.section(), c.id),
                    &Default::default(),
                    format!(
                        "{} {} is defined but not used, so it is not started",
                        kind.name(),
                        c.id
                    ),
                );
            }
        }
    }
}

/// A persistent `sending_queue.storage` names a `file_storage` extension that is enabled in
/// `service.extensions`, as the Collector requires.
fn check_queue_storage(service: &Service, config: &Config, diags: &mut Diagnostics) {
    for c in config.section(Kind::Exporter) {
        let Some(storage) = c
            .effective
            .pointer("/sending_queue/storage")
            .and_then(|v| v.as_str())
        else {
            continue;
        };
        let problem = match ComponentId::parse(storage) {
            Err(e) => Some(e),
            Ok(id) => match config.component(Kind::Extension, &id) {
                None => Some(format!(
                    "storage extension {id} is not defined under extensions"
                )),
                Some(ext) if !matches!(ext.spec, Spec::FileStorage(_)) => Some(format!(
                    "extension {id} is not a storage extension (use file_storage)"
                )),
                Some(_) if !service.extensions.contains(&id) => Some(format!(
                    "storage extension {id} is not enabled: add it to service.extensions"
                )),
                Some(_) => None,
            },
        };
        if let Some(problem) = problem {
            diags.error(
                format!("exporters.{}.sending_queue.storage", c.id),
                &Default::default(),
                problem,
            );
        }
    }
}

/// Every `auth.authenticator` of a receiver names an authenticator extension (`basicauth`,
/// `bearertokenauth`) that is enabled in `service.extensions`.
fn check_receiver_auth(service: &Service, config: &Config, diags: &mut Diagnostics) {
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k == "auth"
                    && let Some(name) = v.get("authenticator").and_then(|a| a.as_str())
                {
                    out.push((format!("{here}.authenticator"), name.to_string()));
                } else {
                    walk(v, &here, out);
                }
            }
        }
    }
    for c in config.section(Kind::Receiver) {
        let mut refs = Vec::new();
        walk(&c.effective, "", &mut refs);
        for (path, name) in refs {
            let problem = match ComponentId::parse(&name) {
                Err(e) => Some(e),
                Ok(id) => match config.component(Kind::Extension, &id) {
                    None => Some(format!(
                        "authenticator {id} is not defined under extensions"
                    )),
                    Some(ext)
                        if !matches!(
                            ext.spec,
                            Spec::BasicAuth(_) | Spec::BearerTokenAuth(_) | Spec::Oidc(_)
                        ) =>
                    {
                        Some(format!(
                            "extension {id} is not an authenticator (use basicauth, bearertokenauth or oidc)"
                        ))
                    }
                    Some(_) if !service.extensions.contains(&id) => Some(format!(
                        "authenticator {id} is not enabled: add it to service.extensions"
                    )),
                    Some(_) => None,
                },
            };
            if let Some(problem) = problem {
                diags.error(
                    format!("receivers.{}.{path}", c.id),
                    &Default::default(),
                    problem,
                );
            }
        }
    }
}
