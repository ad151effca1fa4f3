//! The Deep Dependency Graph: the paths of (service, operation) pairs that requests took through
//! one focal service (and optionally operation), computed from stored traces the way the Jaeger
//! UI computes it from search results: every root-to-leaf chain of spans, reduced to the spans
//! that enter a service (a span is kept when its service differs from the previous kept span's, or
//! when it is a server span), kept when it passes through the focal pair.

use std::collections::{BTreeMap, HashMap, HashSet};

use spoor_model::otlp_trace::span::SpanKind;
use spoor_model::{SpanId, service_name};
use spoor_storage::Trace;

/// Distinct paths returned at most; further paths are dropped.
pub const MAX_PATHS: usize = 1_000;
/// Root-to-leaf chains walked per trace at most.
const MAX_LEAVES_PER_TRACE: usize = 10_000;
/// Exemplar trace ids kept per path.
const MAX_EXEMPLARS: usize = 20;

/// One step of a path (serialised as the Jaeger UI reads it: `{"service":…,"operation":…}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PathElem {
    pub service: String,
    pub operation: String,
}

/// One path through the focal pair, with ids of traces that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdgPath {
    pub path: Vec<PathElem>,
    /// Hex trace ids (32 digits), at most 20, in the order the traces were read.
    pub exemplar_trace_ids: Vec<String>,
}

/// Which pair the paths go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focal {
    pub service: String,
    /// `None`: any operation of the service.
    pub operation: Option<String>,
}

impl Focal {
    fn matches(&self, elem: &PathElem) -> bool {
        elem.service == self.service
            && self
                .operation
                .as_ref()
                .is_none_or(|op| *op == elem.operation)
    }
}

struct Node<'a> {
    service: &'a str,
    name: &'a str,
    server: bool,
    children: Vec<usize>,
}

/// The distinct paths through `focal` in `traces`, sorted.
pub fn deep_dependency_paths(traces: &[Trace], focal: &Focal) -> Vec<DdgPath> {
    let mut paths: BTreeMap<Vec<PathElem>, Vec<String>> = BTreeMap::new();
    for trace in traces {
        let trace_id = trace.id.to_hex();
        for path in trace_paths(trace) {
            if !path.iter().any(|e| focal.matches(e)) {
                continue;
            }
            if !paths.contains_key(&path) && paths.len() >= MAX_PATHS {
                continue;
            }
            let exemplars = paths.entry(path).or_default();
            if exemplars.len() < MAX_EXEMPLARS && !exemplars.contains(&trace_id) {
                exemplars.push(trace_id.clone());
            }
        }
    }
    paths
        .into_iter()
        .map(|(path, exemplar_trace_ids)| DdgPath {
            path,
            exemplar_trace_ids,
        })
        .collect()
}

/// Every reduced root-to-leaf chain of one trace (duplicates included).
fn trace_paths(trace: &Trace) -> Vec<Vec<PathElem>> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut parents: Vec<Option<SpanId>> = Vec::new();
    let mut by_id: HashMap<SpanId, usize> = HashMap::new();
    for rs in &trace.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
            if let Ok(id) = SpanId::from_bytes(&span.span_id) {
                by_id.entry(id).or_insert(nodes.len());
            }
            parents.push(
                SpanId::from_bytes(&span.parent_span_id)
                    .ok()
                    .filter(|p| !p.is_zero()),
            );
            nodes.push(Node {
                service,
                name: &span.name,
                server: span.kind == SpanKind::Server as i32,
                children: Vec::new(),
            });
        }
    }
    let mut roots = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        match parent.and_then(|p| by_id.get(&p)) {
            Some(&p) if p != i => nodes[p].children.push(i),
            _ => roots.push(i),
        }
    }
    let mut out = Vec::new();
    let mut visited: HashSet<usize> = HashSet::new();
    // The reduced chain of the current node's ancestors; each stack entry remembers how long the
    // chain was at its parent, so a sibling starts from the same prefix.
    let mut chain: Vec<usize> = Vec::new();
    for root in roots {
        let mut stack = vec![(root, 0usize)];
        while let Some((node, prefix)) = stack.pop() {
            if !visited.insert(node) {
                continue;
            }
            chain.truncate(prefix);
            let n = &nodes[node];
            if chain
                .last()
                .is_none_or(|&last| nodes[last].service != n.service || n.server)
            {
                chain.push(node);
            }
            let children: Vec<usize> = n
                .children
                .iter()
                .copied()
                .filter(|c| !visited.contains(c))
                .collect();
            if children.is_empty() {
                out.push(
                    chain
                        .iter()
                        .map(|&i| PathElem {
                            service: nodes[i].service.to_string(),
                            operation: nodes[i].name.to_string(),
                        })
                        .collect(),
                );
                if out.len() >= MAX_LEAVES_PER_TRACE {
                    return out;
                }
            } else {
                let len = chain.len();
                stack.extend(children.into_iter().rev().map(|c| (c, len)));
            }
        }
    }
    out
}
