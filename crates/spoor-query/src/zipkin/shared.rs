//! Zipkin's shared spans made unique at read time, as Jaeger's query does
//! (`adjuster.ZipkinSpanIDUniquifier`).
//!
//! In Zipkin, the server half of an RPC reuses the client half's span id. The Zipkin receiver
//! gives a server half flagged `shared` a new id when it is ingested; a half that arrives
//! without the flag (older tracers, or v1 spans split apart) is stored with the client's id, so
//! a trace can hold a client span and a server span with the same id. Here, in each such pair,
//! the server span gets a new id unique in the trace and the client span as its parent, and
//! every other span whose parent was the shared id is re-parented onto the server span (they
//! are the server's children), as Jaeger does.

use std::collections::{HashMap, HashSet};

use spoor_model::ResourceSpans;
use spoor_model::otlp_trace::span::SpanKind;

/// Rewrites the ids of server spans that share their id with a client span of the same trace;
/// returns how many were rewritten. Spans are `(resource, scope, span)` positions, so the
/// rewrite works in place on the stored grouping.
pub fn uniquify_shared_ids(resource_spans: &mut [ResourceSpans]) -> usize {
    let mut client_ids: HashSet<(Vec<u8>, Vec<u8>)> = HashSet::new();
    let mut all_ids: HashSet<(Vec<u8>, Vec<u8>)> = HashSet::new();
    for span in resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
    {
        let key = (span.trace_id.clone(), span.span_id.clone());
        if span.kind == SpanKind::Client as i32 {
            client_ids.insert(key.clone());
        }
        all_ids.insert(key);
    }
    if client_ids.is_empty() {
        return 0;
    }
    // (trace id, old id) → new id
    let mut moved: HashMap<(Vec<u8>, Vec<u8>), Vec<u8>> = HashMap::new();
    for span in resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        let key = (span.trace_id.clone(), span.span_id.clone());
        if span.kind != SpanKind::Server as i32
            || !client_ids.contains(&key)
            || moved.contains_key(&key)
        {
            continue;
        }
        let new_id = unique_id(&span.trace_id, &span.span_id, &all_ids);
        all_ids.insert((span.trace_id.clone(), new_id.clone()));
        span.parent_span_id = std::mem::replace(&mut span.span_id, new_id.clone());
        moved.insert(key, new_id);
    }
    if moved.is_empty() {
        return 0;
    }
    for span in resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        let key = (span.trace_id.clone(), span.parent_span_id.clone());
        if let Some(new_id) = moved.get(&key)
            && span.span_id != *new_id
        {
            span.parent_span_id = new_id.clone();
        }
    }
    moved.len()
}

/// The id the receiver gives a shared server span (FNV-1a of trace id, span id and
/// `shared-server`), so a pair gets the same id whether it was fixed at ingest or here; bumped
/// until it is unique in the trace.
fn unique_id(trace: &[u8], id: &[u8], taken: &HashSet<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trace.iter().chain(id).chain(b"shared-server") {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    loop {
        if h == 0 {
            h = 1;
        }
        let candidate = h.to_be_bytes().to_vec();
        if !taken.contains(&(trace.to_vec(), candidate.clone())) {
            return candidate;
        }
        h = h.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ScopeSpans, Span, attr};

    use super::*;

    fn span(id: u8, parent: u8, kind: SpanKind, name: &str) -> Span {
        Span {
            trace_id: vec![7; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
            kind: kind as i32,
            name: name.into(),
            ..Default::default()
        }
    }

    fn rs(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr::string("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn server_half_gets_a_new_id_under_the_client_half() {
        let mut trace = vec![
            rs(
                "front",
                vec![
                    span(1, 0, SpanKind::Server, "root"),
                    span(2, 1, SpanKind::Client, "call"),
                ],
            ),
            rs(
                "back",
                vec![
                    span(2, 1, SpanKind::Server, "handle"),
                    span(3, 2, SpanKind::Internal, "db"),
                ],
            ),
        ];
        assert_eq!(uniquify_shared_ids(&mut trace), 1);
        let client = &trace[0].scope_spans[0].spans[1];
        let server = &trace[1].scope_spans[0].spans[0];
        let child = &trace[1].scope_spans[0].spans[1];
        assert_eq!(client.span_id, vec![2; 8]);
        assert_eq!(client.parent_span_id, vec![1; 8]);
        assert_ne!(server.span_id, vec![2; 8]);
        assert_eq!(server.parent_span_id, vec![2; 8]);
        assert_eq!(child.parent_span_id, server.span_id);
        // Reading again changes nothing: the ids are unique now.
        let before = trace.clone();
        assert_eq!(uniquify_shared_ids(&mut trace), 0);
        assert_eq!(trace, before);
    }

    #[test]
    fn unique_ids_and_lone_halves_are_left_alone() {
        let mut trace = vec![rs(
            "a",
            vec![
                span(1, 0, SpanKind::Server, "root"),
                span(2, 1, SpanKind::Client, "call"),
                span(3, 2, SpanKind::Server, "handle"),
            ],
        )];
        let before = trace.clone();
        assert_eq!(uniquify_shared_ids(&mut trace), 0);
        assert_eq!(trace, before);
    }
}
