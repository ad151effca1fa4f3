//! The seeds' SQL examples over a small trace set, through `QueryService::search_plan`.

use std::sync::Arc;

use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status};
use spoor_storage::{MemoryStore, SpanWriter};

use crate::sql::{TraceOrder, is_sql, parse_sql};
use crate::{PlanSearch, QueryService};

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// Trace `n` with one span of `service`/`name`, lasting `ms`, with `attrs`.
fn one(
    n: u8,
    service: &str,
    name: &str,
    ms: u64,
    error: bool,
    attrs: Vec<KeyValue>,
) -> ResourceSpans {
    let start = 1_796_083_200_000_000_000 + u64::from(n) * 1_000_000_000;
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", s(service))],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                trace_id: vec![n; 16],
                span_id: vec![n; 8],
                name: name.into(),
                start_time_unix_nano: start,
                end_time_unix_nano: start + ms * 1_000_000,
                attributes: attrs,
                status: error.then(|| Status {
                    code: StatusCode::Error as i32,
                    message: String::new(),
                }),
                ..Span::default()
            }],
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

async fn service() -> QueryService {
    let store = Arc::new(MemoryStore::new(100));
    store
        .write(vec![
            one(
                1,
                "my-app",
                "UserService.GetUser",
                1500,
                false,
                vec![kv("user.id", s("12345"))],
            ),
            one(
                2,
                "my-app",
                "UserService.List",
                20,
                true,
                vec![
                    kv("error.message", s("database connection failed")),
                    kv("db.operation", s("select")),
                ],
            ),
            one(
                3,
                "other",
                "GET /",
                300,
                false,
                vec![kv("http.status_code", any_value::Value::IntValue(500))],
            ),
            one(
                4,
                "other",
                "GET /x",
                5,
                false,
                vec![
                    kv("http.status_code", s("500")),
                    kv("error", any_value::Value::BoolValue(true)),
                ],
            ),
        ])
        .await
        .expect("write");
    QueryService::new(store)
}

async fn run(service: &QueryService, q: &str) -> Vec<u8> {
    let sql = parse_sql(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let found = service
        .search_plan(&PlanSearch {
            query: sql.query,
            start: None,
            end: None,
            min_trace_duration: None,
            max_trace_duration: None,
            limit: sql.limit.unwrap_or(100),
            spans_per_spanset: 3,
            order: sql.order,
        })
        .await
        .expect("search");
    found
        .iter()
        .map(|t| t.summary.trace_id.to_hex().as_bytes()[1] - b'0')
        .collect()
}

#[tokio::test]
async fn the_seeds_examples_work() {
    let service = service().await;
    let cases: [(&str, &[u8]); 10] = [
        ("SELECT * FROM traces WHERE duration > 1000ms", &[1]),
        ("SELECT * FROM traces WHERE tags.error = true", &[4, 2]),
        (
            "SELECT * FROM traces WHERE service.name = \"my-app\"",
            &[2, 1],
        ),
        (
            "SELECT * FROM traces WHERE operation.name = \"UserService.GetUser\"",
            &[1],
        ),
        ("SELECT * FROM traces WHERE tags.user.id = \"12345\"", &[1]),
        (
            "SELECT * FROM traces WHERE tags.http.status_code = 500",
            &[4, 3],
        ),
        (
            "SELECT * FROM traces WHERE tags.db.operation = \"select\"",
            &[2],
        ),
        (
            "SELECT * FROM traces WHERE tags.error.message = \"database connection failed\"",
            &[2],
        ),
        (
            "select * from traces where service.name = 'other' or duration >= 1500ms order by duration desc limit 2",
            &[1, 3],
        ),
        (
            "SELECT * FROM traces WHERE NOT (service.name = \"other\") AND duration < 100ms ORDER BY duration ASC",
            &[2],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(run(&service, q).await, want, "{q}");
    }
    assert_eq!(
        run(&service, "SELECT * FROM traces ORDER BY duration DESC").await,
        [1, 3, 2, 4]
    );
    assert_eq!(
        run(
            &service,
            "SELECT * FROM traces ORDER BY start_time ASC LIMIT 2"
        )
        .await,
        [1, 2]
    );
}

#[test]
fn bad_sql_says_where() {
    assert!(is_sql("  select * from traces") && !is_sql("{ }"));
    for (q, want) in [
        ("SELECT name FROM traces", "expected '*'"),
        ("SELECT * FROM spans", "expected traces"),
        (
            "SELECT * FROM traces WHERE tags.x = 'open",
            "unterminated string",
        ),
        ("SELECT * FROM traces WHERE foo = 1", "unknown field 'foo'"),
        (
            "SELECT * FROM traces WHERE duration > 'x'",
            "duration compares",
        ),
        ("SELECT * FROM traces LIMIT x", "expected a whole number"),
        (
            "SELECT * FROM traces WHERE service.name = 'a' GROUP BY 1",
            "expected WHERE",
        ),
    ] {
        let e = parse_sql(q).expect_err(q);
        assert!(e.to_string().contains(want), "{q}: {e}");
    }
    let deep = format!(
        "SELECT * FROM traces WHERE {}duration > 1ms{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(
        parse_sql(&deep)
            .expect_err("deep")
            .message
            .contains("deeper than")
    );
    assert_eq!(
        parse_sql("SELECT * FROM traces").map(|q| q.order).ok(),
        Some(TraceOrder::Newest)
    );
}
