//! Analytics SQL over a workload of known durations, through `QueryService::sql_analytics`.

use std::sync::Arc;

use serde_json::{Value as J, json};
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::SpanKind;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status};
use spoor_storage::{MemoryStore, SpanWriter};

use crate::QueryService;
use crate::sql_analytics::{Table, is_analytics, parse_analytics};

const BASE: u64 = 1_796_083_200_000_000_000;

fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
                ..KeyValue::default()
            }],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

/// 100 traces: trace `n` has a `cart` server span `checkout` of `n` ms (`http.method` GET
/// when `n` is even, POST when odd); traces 1 to 10 also have a `db` client span `query` of
/// 10 ms, with an error status in traces 1 to 3.
async fn service() -> QueryService {
    let store = Arc::new(MemoryStore::new(1_000));
    let mut batch = Vec::new();
    for n in 1..=100u64 {
        let start = BASE + n * 1_000_000_000;
        let trace_id = vec![n as u8; 16];
        batch.push(resource(
            "cart",
            vec![Span {
                trace_id: trace_id.clone(),
                span_id: vec![n as u8, 1, 0, 0, 0, 0, 0, 1],
                name: "checkout".into(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + n * 1_000_000,
                attributes: vec![KeyValue {
                    key: "http.method".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            if n % 2 == 0 { "GET" } else { "POST" }.into(),
                        )),
                    }),
                    ..KeyValue::default()
                }],
                ..Span::default()
            }],
        ));
        if n <= 10 {
            batch.push(resource(
                "db",
                vec![Span {
                    trace_id,
                    span_id: vec![n as u8, 2, 0, 0, 0, 0, 0, 2],
                    parent_span_id: vec![n as u8, 1, 0, 0, 0, 0, 0, 1],
                    name: "query".into(),
                    kind: SpanKind::Client as i32,
                    start_time_unix_nano: start + 100_000,
                    end_time_unix_nano: start + 100_000 + 10_000_000,
                    status: (n <= 3).then(|| Status {
                        code: StatusCode::Error as i32,
                        message: String::new(),
                    }),
                    ..Span::default()
                }],
            ));
        }
    }
    store.write(batch).await.expect("write");
    QueryService::new(store)
}

async fn table(service: &QueryService, q: &str) -> Table {
    let parsed = parse_analytics(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    service
        .sql_analytics(&parsed, None, None)
        .await
        .expect("analytics")
}

fn close(v: &J, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test]
async fn quantile_and_count_by_service_are_exact() {
    let svc = service().await;
    let t = table(
        &svc,
        "SELECT service.name, quantile(duration, 0.99), count(*) FROM spans GROUP BY 1",
    )
    .await;
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["service.name", "quantile(duration, 0.99)", "count(*)"]
    );
    assert_eq!(t.columns[1].unit, Some("ms"));
    assert_eq!(t.columns[2].unit, None);
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rows[0][0], json!("cart"));
    // Durations 1..=100 ms: rank 0.99 * 99 = 98.01 lies between 99 and 100 ms.
    assert!(close(&t.rows[0][1], 99.01), "{:?}", t.rows[0]);
    assert_eq!(t.rows[0][2], json!(100));
    assert_eq!(t.rows[1][0], json!("db"));
    assert!(close(&t.rows[1][1], 10.0));
    assert_eq!(t.rows[1][2], json!(10));
    assert_eq!(t.spans_matched, 110);
    assert_eq!(t.traces_read, 100);
    assert!(!t.truncated);
}

#[tokio::test]
async fn sum_avg_min_max_and_where() {
    let svc = service().await;
    let t = table(
        &svc,
        "SELECT sum(duration), avg(duration), min(duration), max(duration), count(*) \
         FROM spans WHERE service.name = 'cart'",
    )
    .await;
    assert_eq!(t.rows.len(), 1);
    let r = &t.rows[0];
    assert!(close(&r[0], 5050.0) && close(&r[1], 50.5) && close(&r[2], 1.0));
    assert!(close(&r[3], 100.0));
    assert_eq!(r[4], json!(100));

    let t = table(
        &svc,
        "SELECT count(*) FROM spans WHERE kind = 'server' AND duration > 90ms",
    )
    .await;
    assert_eq!(t.rows, vec![vec![json!(10)]]);

    let t = table(
        &svc,
        "SELECT service.name, operation.name, count(*) FROM spans WHERE status = 'error' GROUP BY 1, 2",
    )
    .await;
    assert_eq!(t.rows, vec![vec![json!("db"), json!("query"), json!(3)]]);

    // No span matches: aggregates without GROUP BY still give one row.
    let t = table(
        &svc,
        "SELECT count(*), max(duration) FROM spans WHERE service.name = 'nope'",
    )
    .await;
    assert_eq!(t.rows, vec![vec![json!(0), J::Null]]);
}

#[tokio::test]
async fn group_by_attribute_status_and_kind_with_order_and_limit() {
    let svc = service().await;
    let t = table(
        &svc,
        "SELECT tags.http.method, count(*), max(duration) FROM spans GROUP BY tags.http.method",
    )
    .await;
    // Keys ascending, the spans without the attribute (db) last as null.
    assert_eq!(
        t.rows,
        vec![
            vec![json!("GET"), json!(50), json!(100.0)],
            vec![json!("POST"), json!(50), json!(99.0)],
            vec![J::Null, json!(10), json!(10.0)],
        ]
    );

    let t = table(
        &svc,
        "SELECT status, kind, count(*) AS n FROM spans GROUP BY 1, 2 ORDER BY n DESC LIMIT 2",
    )
    .await;
    assert_eq!(t.columns[2].name, "n");
    assert_eq!(
        t.rows,
        vec![
            vec![json!("unset"), json!("server"), json!(100)],
            vec![json!("unset"), json!("client"), json!(7)],
        ]
    );

    let t = table(
        &svc,
        "select span.http.method as m, avg(duration) from spans where service.name = 'cart' \
         group by m order by avg(duration) desc",
    )
    .await;
    // GET: 2, 4, …, 100 ms (avg 51); POST: 1, 3, …, 99 ms (avg 50).
    assert_eq!(t.rows[0][0], json!("GET"));
    assert!(close(&t.rows[0][1], 51.0) && close(&t.rows[1][1], 50.0));
}

#[tokio::test]
async fn window_bounds_the_rows() {
    let svc = service().await;
    let q =
        parse_analytics("SELECT count(*) FROM spans WHERE service.name = 'cart'").expect("valid");
    // Traces 11..=20 start in [BASE + 11 s, BASE + 20 s].
    let t = svc
        .sql_analytics(&q, Some(BASE + 11_000_000_000), Some(BASE + 20_000_000_000))
        .await
        .expect("analytics");
    assert_eq!(t.rows, vec![vec![json!(10)]]);
}

#[test]
fn analytics_is_told_apart_from_the_trace_form() {
    assert!(is_analytics("SELECT count(*) FROM spans"));
    assert!(is_analytics("select name, count(*) from SPANS group by 1"));
    assert!(!is_analytics("SELECT * FROM traces WHERE duration > 1s"));
    assert!(!is_analytics("{ name = \"spans\" }"));
}

#[test]
fn bad_analytics_say_what_and_where() {
    let cases = [
        ("SELECT service.name, count(*) FROM spans", "GROUP BY"),
        (
            "SELECT quantile(duration, 2) FROM spans",
            "not between 0 and 1",
        ),
        ("SELECT quantile(duration) FROM spans", "expected ','"),
        (
            "SELECT median(duration) FROM spans",
            "unknown function 'median'",
        ),
        (
            "SELECT count(*) FROM spans LIMIT 100000",
            "over the maximum",
        ),
        ("SELECT name, count(*) FROM spans GROUP BY 3", "position 3"),
        (
            "SELECT foo.bar, count(*) FROM spans GROUP BY 1",
            "unknown field 'foo.bar'",
        ),
        ("SELECT * FROM spans", "SELECT * FROM traces"),
        ("SELECT name FROM spans", "needs an aggregate"),
        (
            "SELECT count(*) FROM spans GROUP BY 1",
            "cannot GROUP BY the aggregate",
        ),
        (
            "SELECT count(*) FROM spans ORDER BY sum(duration)",
            "not in the select list",
        ),
        (
            "SELECT count(*) FROM spans WHERE status = 'broken'",
            "status compares",
        ),
        (
            "SELECT count(*) FROM spans WHERE (name = 'a'",
            "expected ')'",
        ),
    ];
    for (q, want) in cases {
        match parse_analytics(q) {
            Ok(_) => panic!("{q} parsed"),
            Err(e) => assert!(e.to_string().contains(want), "{q}: {e}"),
        }
    }
}
