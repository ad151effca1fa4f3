//! Differential: each storage conformance query (`shared/conformance/jaeger/storage`) as Jaeger
//! parameters through storage, as a plan compiled from those parameters, as TraceQL and in the
//! SQL form, returns the same traces, the expected ones.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value as Json;
use spoor_model::TraceId;
use spoor_storage::conformance::{Fixtures, storage_dir};
use spoor_storage::{MemoryStore, SpanReader};

use crate::plan::{Query, TraceQuery};
use crate::sql::{TraceOrder, parse_sql};
use crate::{PlanSearch, QueryService, traceql};

fn literal(v: &Json) -> String {
    match v {
        Json::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// A conformance query (Jaeger's JSON form) in TraceQL.
fn to_traceql(q: &Json) -> String {
    let mut conds = Vec::new();
    if let Some(s) = q["ServiceName"].as_str().filter(|s| !s.is_empty()) {
        conds.push(format!(
            "resource.service.name = {}",
            literal(&Json::from(s))
        ));
    }
    if let Some(s) = q["OperationName"].as_str().filter(|s| !s.is_empty()) {
        conds.push(format!("name = {}", literal(&Json::from(s))));
    }
    if let Some(d) = q["DurationMin"].as_u64().filter(|d| *d > 0) {
        conds.push(format!("duration >= {d}ns"));
    }
    if let Some(d) = q["DurationMax"].as_u64().filter(|d| *d > 0) {
        conds.push(format!("duration <= {d}ns"));
    }
    if let Some(tags) = q["Tags"].as_object() {
        for (k, v) in tags {
            let lit = literal(v);
            let cond = match (k.as_str(), v) {
                ("error", Json::Bool(true)) => "(status = error || .error = true)".to_string(),
                ("span.kind", Json::String(kind)) => format!("kind = {kind}"),
                _ => format!(
                    "(span.{k} = {lit} || resource.{k} = {lit} || event.{k} = {lit} || link.{k} = {lit} || instrumentation.{k} = {lit})"
                ),
            };
            conds.push(cond);
        }
    }
    format!("{{ {} }}", conds.join(" && "))
}

/// A SQL literal: strings in single quotes (the conformance values hold none), others as JSON.
fn sql_literal(v: &Json) -> String {
    match v {
        Json::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// A conformance query (Jaeger's JSON form) in the SQL form: a tag is `tags.<key>` (span or
/// resource, by value or text) or the attribute in an event, link or instrumentation scope.
fn to_sql(q: &Json) -> String {
    let mut conds = Vec::new();
    if let Some(s) = q["ServiceName"].as_str().filter(|s| !s.is_empty()) {
        conds.push(format!("service.name = '{s}'"));
    }
    if let Some(s) = q["OperationName"].as_str().filter(|s| !s.is_empty()) {
        conds.push(format!("operation.name = '{s}'"));
    }
    if let Some(d) = q["DurationMin"].as_u64().filter(|d| *d > 0) {
        conds.push(format!("duration >= {d}ns"));
    }
    if let Some(d) = q["DurationMax"].as_u64().filter(|d| *d > 0) {
        conds.push(format!("duration <= {d}ns"));
    }
    if let Some(tags) = q["Tags"].as_object() {
        for (k, v) in tags {
            let lit = sql_literal(v);
            conds.push(format!(
                "(tags.{k} = {lit} OR event.{k} = {lit} OR link.{k} = {lit} OR instrumentation.{k} = {lit})"
            ));
        }
    }
    let limit = q["NumTraces"].as_u64().unwrap_or(20);
    if conds.is_empty() {
        return format!("SELECT * FROM traces LIMIT {limit}");
    }
    format!(
        "SELECT * FROM traces WHERE {} LIMIT {limit}",
        conds.join(" AND ")
    )
}

#[tokio::test]
async fn conformance_queries_agree_as_jaeger_params_plan_traceql_and_sql() {
    let Some(fixtures) = Fixtures::load().expect("fixtures load") else {
        eprintln!("skipping: shared/conformance/jaeger/storage not found beside the project");
        return;
    };
    let raw: Vec<Json> = serde_json::from_str(
        &std::fs::read_to_string(storage_dir().expect("dir").join("queries.json")).expect("read"),
    )
    .expect("queries.json");
    assert_eq!(raw.len(), fixtures.queries.len());
    let store = Arc::new(MemoryStore::new(100_000));
    fixtures.write_all(store.as_ref()).await.expect("write");
    let service = QueryService::new(store.clone());
    let mut failures = Vec::new();
    for (fq, raw) in fixtures.queries.iter().zip(&raw) {
        let expected: BTreeSet<TraceId> = fq
            .expected
            .iter()
            .flat_map(|name| {
                fixtures
                    .traces
                    .iter()
                    .filter(move |t| &t.name == name)
                    .flat_map(|t| t.trace_ids.iter().copied())
            })
            .collect();
        let jq = TraceQuery {
            service: fq.query.service.clone(),
            operation: fq.query.span_name.clone(),
            attributes: fq.tags.clone(),
            start_min: fq.query.start_min,
            start_max: fq.query.start_max,
            duration_min: fq.query.duration_min,
            duration_max: fq.query.duration_max,
            limit: fq.query.limit,
        };
        let jaeger: BTreeSet<TraceId> = service
            .find_trace_ids(&jq)
            .await
            .expect("storage")
            .into_iter()
            .collect();
        let jaeger_traces: BTreeSet<TraceId> = service
            .find_traces(&jq)
            .await
            .expect("storage")
            .into_iter()
            .map(|t| t.id)
            .collect();
        let scanned: BTreeSet<TraceId> = store
            .scan_ids(&fq.query)
            .await
            .expect("storage")
            .into_iter()
            .collect();
        let text = to_traceql(&raw["Query"]);
        let limit = jq.effective_limit();
        let mut plans = vec![(
            "plan",
            String::new(),
            Query::from_trace_query(&jq),
            TraceOrder::Newest,
            limit,
        )];
        match traceql::parse(&text) {
            Ok(q) => plans.push(("traceql", text.clone(), q, TraceOrder::Newest, limit)),
            Err(e) => failures.push(format!("{}: {text}: {e}", fq.caption)),
        }
        let sql = to_sql(&raw["Query"]);
        match parse_sql(&sql) {
            Ok(q) => {
                // The SQL form's own LIMIT is the form's limit.
                let sql_limit = q.limit.unwrap_or(0);
                if sql_limit != limit {
                    failures.push(format!("{}: {sql}: limit {sql_limit}", fq.caption));
                }
                plans.push(("sql", sql, q.query, q.order, sql_limit));
            }
            Err(e) => failures.push(format!("{}: {sql}: {e}", fq.caption)),
        }
        for (form, text, query, order, limit) in plans {
            let found = service
                .search_plan(&PlanSearch {
                    query,
                    start: fq.query.start_min,
                    end: fq.query.start_max,
                    min_trace_duration: None,
                    max_trace_duration: None,
                    limit,
                    spans_per_spanset: 1,
                    order,
                })
                .await
                .expect("plan search");
            let ids: BTreeSet<TraceId> = found.iter().map(|t| t.summary.trace_id).collect();
            if ids != expected {
                failures.push(format!(
                    "{} ({form}: {text}): {ids:?}, expected {expected:?}",
                    fq.caption
                ));
            }
        }
        if jaeger != expected || jaeger_traces != expected {
            failures.push(format!(
                "{} (jaeger): {jaeger:?} {jaeger_traces:?}",
                fq.caption
            ));
        }
        if scanned != expected {
            failures.push(format!("{} (scan): {scanned:?}", fq.caption));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Jaeger's derived tags, the one place they are defined (`tag_predicate`), through the form's
/// scan, its plan, and a store that knows none of them.
#[tokio::test]
async fn jaeger_derived_tags_are_the_query_layers() {
    use spoor_model::otlp_common::InstrumentationScope;
    use spoor_model::otlp_resource::Resource;
    use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, attr};
    use spoor_storage::SpanWriter;

    let span = |n: u8, f: &dyn Fn(&mut Span)| {
        let mut s = Span {
            trace_id: vec![n; 16],
            span_id: vec![n; 8],
            name: "op".into(),
            start_time_unix_nano: 1_000 + u64::from(n),
            end_time_unix_nano: 2_000,
            ..Span::default()
        };
        f(&mut s);
        s
    };
    let rs = |scope: Option<InstrumentationScope>, span: Span| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr::string("service.name", "svc")],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope,
            spans: vec![span],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    let a = span(1, &|s| {
        s.kind = 2;
        s.status = Some(Status {
            code: 2,
            message: "boom".into(),
        });
        s.attributes = vec![attr::string("x", "1")];
    });
    let b = span(2, &|s| {
        s.kind = 3;
        s.attributes = vec![attr::string("error", "true")];
    });
    let c = span(3, &|s| {
        s.status = Some(Status {
            code: 1,
            message: String::new(),
        });
    });
    let scope = InstrumentationScope {
        name: "lib".into(),
        version: "1.0".into(),
        ..InstrumentationScope::default()
    };
    let store = Arc::new(MemoryStore::new(100));
    store
        .write(vec![rs(Some(scope), a), rs(None, b), rs(None, c)])
        .await
        .expect("write");
    let service = QueryService::new(store);
    let id = |n: u8| TraceId([n; 16]);
    let cases: &[(&str, &str, &[u8])] = &[
        ("error", "true", &[1, 2]),
        ("error", "false", &[]),
        ("span.kind", "server", &[1]),
        ("span.kind", "client", &[2]),
        ("span.kind", "Server", &[]),
        ("otel.status_code", "ERROR", &[1]),
        ("otel.status_code", "OK", &[3]),
        ("otel.status_code", "UNSET", &[]),
        ("otel.status_description", "boom", &[1]),
        ("otel.scope.name", "lib", &[1]),
        ("otel.scope.version", "1.0", &[1]),
        ("otel.scope.name", "", &[]),
        ("x", "1", &[1]),
    ];
    for (k, v, want) in cases {
        let form = TraceQuery {
            attributes: vec![(k.to_string(), v.to_string())],
            ..TraceQuery::default()
        };
        let want: BTreeSet<TraceId> = want.iter().map(|n| id(*n)).collect();
        let ids: BTreeSet<TraceId> = service
            .find_trace_ids(&form)
            .await
            .expect("ids")
            .into_iter()
            .collect();
        assert_eq!(ids, want, "{k}={v} (scan)");
        let traces: BTreeSet<TraceId> = service
            .find_traces(&form)
            .await
            .expect("traces")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(traces, want, "{k}={v} (traces)");
        let plan: BTreeSet<TraceId> = service
            .search_plan(&PlanSearch {
                query: Query::from_trace_query(&form),
                start: None,
                end: None,
                min_trace_duration: None,
                max_trace_duration: None,
                limit: 20,
                spans_per_spanset: 1,
                order: crate::sql::TraceOrder::Newest,
            })
            .await
            .expect("plan")
            .iter()
            .map(|t| t.summary.trace_id)
            .collect();
        assert_eq!(plan, want, "{k}={v} (plan)");
    }
}

/// TraceQL conditions become neutral scan tests in the condition's own scopes, each a superset
/// of the typed comparison.
#[test]
fn traceql_pushes_neutral_predicates() {
    use spoor_storage::{AttrScope, SpanPredicate, ValueMatch};
    let q = traceql::parse(
        r#"{ status = error && kind = server && span.http.status_code >= 500 && resource.env = "prod" && .a =~ "x.*" && span.n = 3 }"#,
    )
    .expect("parses");
    let p = q.pushdown();
    let attr = |scopes: &[AttrScope], key: &str, value: ValueMatch| SpanPredicate::Attribute {
        scopes: scopes.to_vec(),
        key: key.into(),
        value,
    };
    assert_eq!(p.predicates.len(), 6, "{:?}", p.predicates);
    assert_eq!(p.predicates[0], SpanPredicate::Status(2));
    assert_eq!(p.predicates[1], SpanPredicate::Kind(2));
    let range = |min, max| ValueMatch::Range { min, max };
    assert_eq!(
        p.predicates[2],
        attr(
            &[AttrScope::Span],
            "http.status_code",
            range(Some(500.0), None)
        )
    );
    assert_eq!(
        p.predicates[3],
        attr(
            &[AttrScope::Resource],
            "env",
            ValueMatch::Text("prod".into())
        )
    );
    match &p.predicates[4] {
        SpanPredicate::Attribute {
            scopes,
            key,
            value: ValueMatch::Regex(re),
        } => {
            assert_eq!(scopes, &[AttrScope::Span, AttrScope::Resource]);
            assert_eq!(key, "a");
            assert!(re.is_match("xyz") && !re.is_match("axe"), "anchored: {re}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.predicates[5],
        attr(&[AttrScope::Span], "n", range(Some(3.0), Some(3.0)))
    );
    // Not pushed: `!=`, `!~`, regex on intrinsics.
    let q =
        traceql::parse(r#"{ span.a != "x" && span.b !~ "y" && name =~ "G.*" }"#).expect("parses");
    assert_eq!(q.pushdown(), spoor_storage::ScanRequest::default());
}
