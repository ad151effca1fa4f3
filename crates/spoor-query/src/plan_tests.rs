//! Differential: each storage conformance query (`shared/conformance/jaeger/storage`) as Jaeger
//! parameters through storage, as a plan compiled from those parameters, and as TraceQL, returns
//! the same traces, the expected ones.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value as Json;
use spoor_model::TraceId;
use spoor_storage::conformance::{Fixtures, storage_dir};
use spoor_storage::{MemoryStore, SpanReader};

use crate::plan::Query;
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

#[tokio::test]
async fn conformance_queries_agree_as_jaeger_params_plan_and_traceql() {
    let fixtures = Fixtures::load()
        .expect("fixtures load")
        .expect("shared/conformance present");
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
        let jaeger: BTreeSet<TraceId> = store
            .find_trace_ids(&fq.query)
            .await
            .expect("storage")
            .into_iter()
            .collect();
        let text = to_traceql(&raw["Query"]);
        let mut plans = vec![("plan", Query::from_trace_query(&fq.query))];
        match traceql::parse(&text) {
            Ok(q) => plans.push(("traceql", q)),
            Err(e) => failures.push(format!("{}: {text}: {e}", fq.caption)),
        }
        for (form, query) in plans {
            let found = service
                .search_plan(&PlanSearch {
                    query,
                    start: fq.query.start_min,
                    end: fq.query.start_max,
                    min_trace_duration: None,
                    max_trace_duration: None,
                    limit: fq.query.effective_limit(),
                    spans_per_spanset: 1,
                    order: crate::sql::TraceOrder::Newest,
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
        if jaeger != expected {
            failures.push(format!("{} (jaeger): {jaeger:?}", fq.caption));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
