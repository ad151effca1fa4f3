//! The critical path of a trace, computed as the Jaeger UI computes it
//! (`TracePage/CriticalPath`): start at the root span; while the current span has a child (a
//! child-of reference; follows-from links do not count) that finished before the point reached,
//! the part of the current span after that child's end is critical and the walk moves into the
//! last-finishing such child; when none is left, the current span's part from its start is
//! critical and the walk returns to its parent at the child's start.
//! Children are first clipped to their parent's interval, and dropped with their subtree when
//! they lie outside it, as the UI sanitises over-flowing children.

use std::collections::HashMap;

use spoor_model::service_name;
use spoor_storage::Trace;

/// One critical section: the part `[start, end]` (unix nanoseconds) of span `span_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalSection {
    pub span_id: Vec<u8>,
    pub service: String,
    pub operation: String,
    pub start: u64,
    pub end: u64,
}

struct Node {
    span_id: Vec<u8>,
    service: String,
    operation: String,
    start: u64,
    end: u64,
    parent: Option<usize>,
    /// Children, latest end first.
    children: Vec<usize>,
}

/// The critical path of `trace`, sections in the order the walk finds them (latest first);
/// empty for a trace without a root span.
pub fn critical_path(trace: &Trace) -> Vec<CriticalSection> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut parents: Vec<Vec<u8>> = Vec::new();
    for rs in &trace.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            nodes.push(Node {
                span_id: span.span_id.clone(),
                service: service.to_string(),
                operation: span.name.clone(),
                start: span.start_time_unix_nano,
                end: span.end_time_unix_nano.max(span.start_time_unix_nano),
                parent: None,
                children: Vec::new(),
            });
            parents.push(span.parent_span_id.clone());
        }
    }
    let index: HashMap<&[u8], usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.span_id.as_slice(), i))
        .collect();
    let links: Vec<Option<usize>> = parents
        .iter()
        .enumerate()
        .map(|(i, p)| index.get(p.as_slice()).copied().filter(|&p| p != i))
        .collect();
    for (i, parent) in links.iter().enumerate() {
        if let Some(p) = parent {
            nodes[i].parent = Some(*p);
            nodes[*p].children.push(i);
        }
    }
    // The root: a span without a parent in the trace, the earliest (the longest on a tie).
    let Some(root) = (0..nodes.len())
        .filter(|&i| nodes[i].parent.is_none())
        .min_by_key(|&i| (nodes[i].start, std::cmp::Reverse(nodes[i].end)))
    else {
        return Vec::new();
    };
    // Clip children to their parent, top-down from the root; drop those outside it.
    let mut stack = vec![root];
    let mut reached = vec![false; nodes.len()];
    reached[root] = true;
    while let Some(p) = stack.pop() {
        let (ps, pe) = (nodes[p].start, nodes[p].end);
        let children = std::mem::take(&mut nodes[p].children);
        let mut kept = Vec::with_capacity(children.len());
        for c in children {
            if reached[c] || nodes[c].start > pe || nodes[c].end < ps {
                continue;
            }
            reached[c] = true;
            nodes[c].start = nodes[c].start.max(ps);
            nodes[c].end = nodes[c].end.min(pe);
            kept.push(c);
            stack.push(c);
        }
        kept.sort_by_key(|&c| std::cmp::Reverse(nodes[c].end));
        nodes[p].children = kept;
    }
    let mut path = Vec::new();
    let mut current = root;
    let mut returning: Option<u64> = None;
    // Every step moves into a child or returns to a parent at an earlier time; the bound only
    // guards against a malformed tree.
    for _ in 0..nodes.len().saturating_mul(4).max(4) {
        let node = &nodes[current];
        let last_child = match returning {
            Some(t) => node.children.iter().copied().find(|&c| nodes[c].end < t),
            None => node.children.first().copied(),
        };
        let section_end = returning.unwrap_or(node.end);
        let (section_start, next) = match last_child {
            Some(c) => (nodes[c].end, Some((c, None))),
            None => (node.start, node.parent.map(|p| (p, Some(node.start)))),
        };
        if section_start < section_end {
            path.push(CriticalSection {
                span_id: node.span_id.clone(),
                service: node.service.clone(),
                operation: node.operation.clone(),
                start: section_start,
                end: section_end,
            });
        }
        match next {
            Some((n, r)) => {
                current = n;
                returning = r;
            }
            None => break,
        }
    }
    path
}
