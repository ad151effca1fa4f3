//! Unit tests of the `loadbalancing` exporter: config validation, the ring, partitioning.

use std::collections::{BTreeMap, BTreeSet};

use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, ScopeSpans, Span, span_count};

use super::loadbalancing::{LoadBalancingConfig, Ring, RoutingKey, partition};
use crate::registry::ComponentConfig;

fn config(yaml: serde_json::Value) -> Result<LoadBalancingConfig, Vec<String>> {
    let c: LoadBalancingConfig = serde_json::from_value(yaml).map_err(|e| vec![e.to_string()])?;
    let errors = c.validate();
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect())
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(service.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn span(trace: u64, id: u64) -> Span {
    Span {
        trace_id: [trace.to_be_bytes(), trace.to_be_bytes()].concat(),
        span_id: id.to_be_bytes().to_vec(),
        name: format!("op{id}"),
        ..Default::default()
    }
}

fn batch(service: &str, traces: std::ops::Range<u64>, spans_per_trace: u64) -> ResourceSpans {
    let spans = traces
        .flat_map(|t| (0..spans_per_trace).map(move |s| span(t, t * 100 + s)))
        .collect();
    ResourceSpans {
        resource: resource(service),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn ring(n: usize) -> Ring {
    Ring::new((0..n).map(|i| format!("10.0.0.{i}:4317")).collect())
}

#[test]
fn collector_options_are_accepted() {
    let c = config(serde_json::json!({
        "routing_key": "service",
        "protocol": {"otlp": {"tls": {"insecure": true}, "timeout": "2s", "sending_queue": {"queue_size": 10}}},
        "resolver": {"static": {"hostnames": ["a:4317", "b", "10.0.0.1:55690"]}},
    }));
    assert!(c.is_ok(), "{c:?}");
    let c = config(serde_json::json!({
        "resolver": {"dns": {"hostname": "spoor-ingest-headless", "port": 4317, "interval": "10s", "timeout": "2s"}},
    }));
    assert_eq!(c.map(|c| c.routing_key), Ok(RoutingKey::TraceId));
}

#[test]
fn bad_options_are_refused_with_their_paths() {
    let errors = config(serde_json::json!({"resolver": {}}))
        .err()
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| e.starts_with("resolver:")),
        "{errors:?}"
    );
    let errors = config(serde_json::json!({
        "resolver": {"static": {"hostnames": ["a"]}, "dns": {"hostname": "b"}},
    }))
    .err()
    .unwrap_or_default();
    assert!(errors.iter().any(|e| e.contains("exclusive")), "{errors:?}");
    let errors = config(serde_json::json!({
        "protocol": {"otlp": {"endpoint": "x:4317", "compression": "lz4"}},
        "resolver": {"static": {"hostnames": []}},
    }))
    .err()
    .unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("protocol.otlp.endpoint")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("protocol.otlp.compression")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("resolver.static.hostnames")),
        "{errors:?}"
    );
    let errors = config(serde_json::json!({"routing_key": "resource", "resolver": {"static": {"hostnames": ["a"]}}}))
        .err()
        .unwrap_or_default();
    assert!(errors.iter().any(|e| e.contains("resource")), "{errors:?}");
}

#[test]
fn every_span_of_a_trace_goes_to_one_backend_and_none_is_lost() {
    let r = ring(3);
    let input = vec![batch("a", 0..200, 4), batch("b", 100..300, 3)];
    let total = span_count(&input);
    let parts = partition(input, RoutingKey::TraceId, &r);
    assert_eq!(parts.len(), 3, "200 traces spread over all 3 backends");
    let mut owner: BTreeMap<Vec<u8>, &str> = BTreeMap::new();
    let mut seen = 0;
    for (backend, rss) in &parts {
        seen += span_count(rss);
        for rs in rss {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let prev = owner.insert(s.trace_id.clone(), backend);
                    assert!(prev.is_none_or(|p| p == backend), "trace split");
                }
            }
        }
    }
    assert_eq!(seen, total);
    assert_eq!(owner.len(), 300);
}

#[test]
fn routing_by_service_keeps_resources_whole() {
    let r = ring(3);
    let services: Vec<String> = (0..30).map(|i| format!("svc-{i}")).collect();
    let input: Vec<ResourceSpans> = services.iter().map(|s| batch(s, 0..5, 2)).collect();
    let parts = partition(input.clone(), RoutingKey::Service, &r);
    let again = partition(input, RoutingKey::Service, &r);
    let where_: BTreeMap<_, _> = parts
        .iter()
        .flat_map(|(b, rss)| {
            rss.iter().map(move |rs| {
                (
                    spoor_model::service_name(rs.resource.as_ref()).to_string(),
                    b.clone(),
                )
            })
        })
        .collect();
    assert_eq!(where_.len(), 30);
    assert!(parts.len() >= 2, "30 services use more than one backend");
    assert_eq!(
        parts.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_ring_spreads_keys_and_moves_few_when_a_backend_leaves() {
    let three = ring(3);
    let two = Ring::new(vec!["10.0.0.0:4317".into(), "10.0.0.1:4317".into()]);
    let keys: Vec<Vec<u8>> = (0..30_000u64).map(|k| k.to_be_bytes().repeat(2)).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut moved = 0;
    for k in &keys {
        let before = three.lookup(k).unwrap_or_default();
        *counts.entry(before).or_default() += 1;
        let after = two.lookup(k).unwrap_or_default();
        if before != "10.0.0.2:4317" && before != after {
            moved += 1;
        }
    }
    for (b, n) in &counts {
        assert!((7_000..13_000).contains(n), "{b} got {n} of 30000");
    }
    // Only the keys of the backend that left move; the others stay where they were.
    assert_eq!(moved, 0);
    let names: BTreeSet<_> = counts.keys().collect();
    assert_eq!(names.len(), 3);
}

#[test]
fn the_ring_does_not_depend_on_the_order_of_hostnames() {
    let a = Ring::new(vec!["b:1".into(), "a:1".into(), "c:1".into()]);
    let b = Ring::new(vec!["c:1".into(), "a:1".into(), "b:1".into(), "a:1".into()]);
    for k in 0..1000u64 {
        assert_eq!(a.lookup(&k.to_le_bytes()), b.lookup(&k.to_le_bytes()));
    }
    assert_eq!(Ring::new(vec![]).lookup(b"x"), None);
}
