use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, TraceId, attr};
use spoor_storage::Trace;

use super::*;

const MS: u64 = 1_000_000;

fn span(id: u8, parent: u8, name: &str, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: vec![9; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        name: name.into(),
        start_time_unix_nano: start_ms * MS,
        end_time_unix_nano: end_ms * MS,
        ..Default::default()
    }
}

fn trace(resources: Vec<(&str, Option<&str>, Vec<Span>)>) -> Trace {
    Trace {
        id: TraceId([9; 16]),
        resource_spans: resources
            .into_iter()
            .map(|(service, version, spans)| {
                let mut attributes = vec![attr::string("service.name", service)];
                if let Some(v) = version {
                    attributes.push(attr::string("service.version", v));
                }
                ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect(),
    }
}

#[test]
fn critical_path_walks_back_from_the_last_finishing_child() {
    // A [0,100] ─ B [10,40]
    //           ├ C [20,90] ─ D [30,60]
    //           │           └ E [65,85]
    //           └ F [95,120] (clipped to [95,100])
    // G [50,70] is a second root (a follows-from trace piece): not on the path.
    let t = trace(vec![
        (
            "front",
            None,
            vec![
                span(1, 0, "A", 0, 100),
                span(2, 1, "B", 10, 40),
                span(6, 1, "F", 95, 120),
            ],
        ),
        (
            "back",
            None,
            vec![
                span(3, 1, "C", 20, 90),
                span(4, 3, "D", 30, 60),
                span(5, 3, "E", 65, 85),
                span(7, 0, "G", 50, 70),
            ],
        ),
    ]);
    let path: Vec<(String, u64, u64)> = critical_path(&t)
        .into_iter()
        .map(|s| (s.operation, s.start / MS, s.end / MS))
        .collect();
    let expected: Vec<(String, u64, u64)> = [
        ("F", 95, 100),
        ("A", 90, 95),
        ("C", 85, 90),
        ("E", 65, 85),
        ("C", 60, 65),
        ("D", 30, 60),
        ("C", 20, 30),
        ("A", 0, 20),
    ]
    .into_iter()
    .map(|(n, s, e)| (n.to_string(), s, e))
    .collect();
    assert_eq!(path, expected);
    let covered: u64 = path.iter().map(|(_, s, e)| e - s).sum();
    assert_eq!(covered, 100, "the path covers the root's duration once");
}

#[test]
fn critical_path_of_a_lone_span_and_of_nothing() {
    let t = trace(vec![("a", None, vec![span(1, 0, "only", 5, 9)])]);
    let path = critical_path(&t);
    assert_eq!(path.len(), 1);
    assert_eq!((path[0].start, path[0].end), (5 * MS, 9 * MS));
    assert!(critical_path(&trace(vec![])).is_empty());
}

fn workload(version: &str, start_ms: u64, slow_factor: f64) -> Vec<Trace> {
    (0..100u64)
        .map(|i| {
            let s = start_ms + i * 10;
            let checkout = 100 + i % 10;
            let cart = ((50 + i % 10) as f64 * slow_factor) as u64;
            let mut err = span(3, 1, "GET /health", s, s + 2);
            if i % 50 == 0 {
                err.status = Some(Status {
                    code: StatusCode::Error as i32,
                    ..Default::default()
                });
            }
            trace(vec![(
                "shop",
                Some(version),
                vec![
                    span(1, 0, "POST /checkout", s, s + checkout),
                    span(2, 1, "GET /cart", s, s + cart),
                    err,
                ],
            )])
        })
        .collect()
}

#[test]
fn the_operation_that_got_30_percent_slower_ranks_first() {
    let baseline = workload("1.0", 0, 1.0);
    let current = workload("1.1", 10_000, 1.3);
    let side = |start: u64, end: u64, version: Option<&str>| SpanFilter {
        service: Some("shop".into()),
        version: version.map(str::to_string),
        start: start * MS,
        end: end * MS,
    };
    let by_window = compare(
        &baseline,
        &side(0, 5_000, None),
        &current,
        &side(10_000, 15_000, None),
    );
    assert_eq!(by_window.len(), 3);
    assert_eq!(by_window[0].operation, "GET /cart");
    let change = by_window[0].p95_change.expect("both windows");
    assert!((0.25..0.35).contains(&change), "{change}");
    assert_eq!(by_window[0].baseline.calls, 100);
    assert_eq!(by_window[0].current.calls, 100);
    let health = by_window
        .iter()
        .find(|o| o.operation == "GET /health")
        .expect("health");
    assert_eq!(health.baseline.errors, 2);
    assert!((health.baseline.error_rate() - 0.02).abs() < 1e-9);

    // The same by version, both versions in one window.
    let mixed: Vec<Trace> = baseline.iter().chain(&current).cloned().collect();
    let by_version = compare(
        &mixed,
        &side(0, 20_000, Some("1.0")),
        &mixed,
        &side(0, 20_000, Some("1.1")),
    );
    assert_eq!(by_version[0].operation, "GET /cart");
    assert_eq!(by_version[0].current.calls, 100);
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&v, 0.5), 50);
    assert_eq!(percentile(&v, 0.95), 95);
    assert_eq!(percentile(&v, 0.99), 99);
    assert_eq!(percentile(&[7], 0.99), 7);
    assert_eq!(percentile(&[], 0.5), 0);
}
