//! The statistical shape of the standard workload, checked on a fixed seed.

use std::collections::HashMap;

use prost::Message;
use spoor_model::Span;
use spoor_model::otlp_trace::status::StatusCode;

use crate::workload::{TraceBuf, Workload};

struct Shape {
    spans_per_trace: Vec<usize>,
    depths: Vec<usize>,
    fan_outs: Vec<usize>,
    attrs: Vec<usize>,
    self_ms: Vec<f64>,
    spans: usize,
    errors: usize,
    with_events: usize,
}

fn percentile<T: Copy + PartialOrd>(xs: &mut [T], p: f64) -> T {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

fn measure(seed: u64, traces: usize) -> Shape {
    let mut w = Workload::new(seed);
    let mut buf = TraceBuf::default();
    let mut shape = Shape {
        spans_per_trace: Vec::new(),
        depths: Vec::new(),
        fan_outs: Vec::new(),
        attrs: Vec::new(),
        self_ms: Vec::new(),
        spans: 0,
        errors: 0,
        with_events: 0,
    };
    for _ in 0..traces {
        w.fill_trace(&mut buf);
        let spans: Vec<&Span> = buf.per_service.iter().flatten().collect();
        shape.spans_per_trace.push(spans.len());
        let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (&s.span_id[..], *s)).collect();
        let mut children: HashMap<&[u8], usize> = HashMap::new();
        let mut max_depth = 0;
        for s in &spans {
            let mut depth = 1;
            let mut cur = *s;
            while let Some(p) = by_id.get(&cur.parent_span_id[..]) {
                depth += 1;
                cur = p;
            }
            max_depth = max_depth.max(depth);
            if !s.parent_span_id.is_empty() {
                *children.entry(&s.parent_span_id[..]).or_default() += 1;
            }
            shape.attrs.push(s.attributes.len());
            shape.errors += usize::from(
                s.status
                    .as_ref()
                    .is_some_and(|st| st.code == StatusCode::Error as i32),
            );
            shape.with_events += usize::from(!s.events.is_empty());
        }
        // Leaf durations are pure per-hop self time.
        for s in &spans {
            if !children.contains_key(&s.span_id[..]) {
                shape
                    .self_ms
                    .push((s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6);
            }
        }
        shape.depths.push(max_depth);
        shape.fan_outs.extend(children.values().copied());
        shape.spans += spans.len();
    }
    shape
}

#[test]
fn trace_shape_matches_the_standard_workload() {
    let mut s = measure(1, 20_000);
    let median = percentile(&mut s.spans_per_trace, 0.5);
    let p99 = percentile(&mut s.spans_per_trace, 0.99);
    assert!((10..=20).contains(&median), "median spans/trace {median}");
    assert!((150..=1000).contains(&p99), "p99 spans/trace {p99}");
    let depth_median = percentile(&mut s.depths, 0.5);
    let depth_p99 = percentile(&mut s.depths, 0.99);
    let depth_max = percentile(&mut s.depths, 1.0);
    assert!(
        (2..=6).contains(&depth_median),
        "median depth {depth_median}"
    );
    assert!(
        depth_p99 >= 7 && depth_max >= 10,
        "depth tail {depth_p99} {depth_max}"
    );
    let fan_median = percentile(&mut s.fan_outs, 0.5);
    let fan_max = percentile(&mut s.fan_outs, 1.0);
    assert!(
        (1..=10).contains(&fan_median),
        "median fan-out {fan_median}"
    );
    assert!(fan_max >= 30, "fan-out tail {fan_max}");
    let attr_min = percentile(&mut s.attrs, 0.0);
    let attr_max = percentile(&mut s.attrs, 1.0);
    assert!(
        attr_min >= 10 && attr_max <= 20,
        "attrs {attr_min}..{attr_max}"
    );
    let error_rate = s.errors as f64 / s.spans as f64;
    let event_rate = s.with_events as f64 / s.spans as f64;
    let hop_p50 = percentile(&mut s.self_ms, 0.5);
    let hop_p99 = percentile(&mut s.self_ms, 0.99);
    eprintln!(
        "spans/trace p50 {median} p99 {p99}; depth p50 {depth_median} p99 {depth_p99} max {depth_max}; \
         fan-out p50 {fan_median} max {fan_max}; attrs {attr_min}..{attr_max}; \
         errors {error_rate:.4}; events {event_rate:.4}; hop p50 {hop_p50:.2} ms p99 {hop_p99:.1} ms"
    );
    assert!(
        (0.01..=0.05).contains(&error_rate),
        "error rate {error_rate}"
    );
    assert!(
        (0.03..=0.08).contains(&event_rate),
        "event rate {event_rate}"
    );
    assert!((0.7..=1.5).contains(&hop_p50), "hop p50 {hop_p50} ms");
    assert!((50.0..=200.0).contains(&hop_p99), "hop p99 {hop_p99} ms");
}

#[test]
fn huge_traces_occur() {
    let mut w = Workload::new(3);
    let mut buf = TraceBuf::default();
    let mut largest = 0;
    for _ in 0..30_000 {
        w.fill_trace(&mut buf);
        largest = largest.max(buf.spans);
    }
    assert!(largest >= 10_000, "largest trace {largest}");
}

#[test]
fn bytes_per_span_on_the_wire() {
    let mut w = Workload::new(1);
    let (mut bytes, mut spans) = (0usize, 0usize);
    for _ in 0..200 {
        let (request, n, _) = w.next_batch(1000);
        bytes += request.encoded_len();
        spans += n;
    }
    let per_span = bytes as f64 / spans as f64;
    eprintln!("{per_span:.1} bytes/span over {spans} spans");
    assert!((250.0..=450.0).contains(&per_span), "{per_span} bytes/span");
}

#[test]
fn same_seed_same_bytes() {
    let a: Vec<Vec<u8>> = Workload::batches(9, 500)
        .take(5)
        .map(|r| r.encode_to_vec())
        .collect();
    let b: Vec<Vec<u8>> = Workload::batches(9, 500)
        .take(5)
        .map(|r| r.encode_to_vec())
        .collect();
    assert_eq!(a, b);
    let c = Workload::batches(10, 500).next().map(|r| r.encode_to_vec());
    assert_ne!(Some(&a[0]), c.as_ref());
}

#[test]
fn batches_hold_whole_valid_traces() {
    let mut w = Workload::new(5);
    let (request, spans, ids) = w.next_batch(1000);
    assert_eq!(spoor_model::span_count(&request.resource_spans), spans);
    assert!(spans >= 1000);
    let mut seen = std::collections::HashSet::new();
    for rs in &request.resource_spans {
        assert!(spoor_model::service_name(rs.resource.as_ref()) != "unknown_service");
        for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            assert_eq!(s.trace_id.len(), 16);
            assert_eq!(s.span_id.len(), 8);
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
            seen.insert(<[u8; 16]>::try_from(&s.trace_id[..]).unwrap_or_default());
        }
    }
    assert_eq!(seen.len(), ids.len());
}
