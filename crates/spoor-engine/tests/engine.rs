//! The engine's own scenarios: limits, block boundaries, traces split across blocks and head,
//! restart and crash recovery, catalog and dependencies.

mod support;

use spoor_engine::Engine;
use spoor_model::attr;
use spoor_storage::{
    OperationQuery, ScanRequest, SpanPredicate, SpanReader, SpanWriter, TimeRange,
};
use spoor_telemetry::Telemetry;
use support::{span, spans_of, tid};

const T0: u64 = 1_800_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

#[tokio::test]
async fn limit_applies_after_filter_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(support::config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    // 30 traces, only the even ones match; half in blocks, half in the head.
    for i in 0..30u64 {
        let tag = if i % 2 == 0 { "yes" } else { "no" };
        let b = span(
            "svc",
            "op",
            i + 1,
            1,
            None,
            T0 + i * SEC,
            1000,
            vec![attr::string("m", tag)],
        );
        engine.write(b).await.expect("write");
        if i == 14 {
            engine.flush().await.expect("flush");
        }
    }
    let q = ScanRequest {
        service: Some("svc".into()),
        predicates: vec![SpanPredicate::text_anywhere("m", "yes")],
        limit: 5,
        ..ScanRequest::default()
    };
    let ids = engine.scan_ids(&q).await.expect("search");
    let want: Vec<_> = [29u64, 27, 25, 23, 21].iter().map(|i| tid(*i)).collect();
    assert_eq!(ids, want);
    // The same once everything is in blocks.
    engine.flush().await.expect("flush");
    assert_eq!(engine.scan_ids(&q).await.expect("search"), want);
    let q = ScanRequest { limit: 12, ..q };
    assert_eq!(engine.scan_ids(&q).await.expect("search").len(), 12);
}

#[tokio::test]
async fn time_windows_at_block_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(support::config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    for (i, block) in [(1u64, 0), (2, 0), (3, 1), (4, 1)] {
        engine
            .write(span("svc", "op", i, 1, None, T0 + i * SEC, 10, vec![]))
            .await
            .expect("write");
        if i == 2 || (i == 4 && block == 1) {
            engine.flush().await.expect("flush");
        }
    }
    assert_eq!(engine.manifest().blocks.len(), 2);
    let window = |min: u64, max: u64| ScanRequest {
        start_min: Some(min),
        start_max: Some(max),
        limit: 100,
        ..ScanRequest::default()
    };
    // Exactly the last span of block 1 through exactly the first of block 2 (inclusive).
    let ids = engine
        .scan_ids(&window(T0 + 2 * SEC, T0 + 3 * SEC))
        .await
        .expect("search");
    assert_eq!(ids, vec![tid(3), tid(2)]);
    let ids = engine
        .scan_ids(&window(T0 + 2 * SEC + 1, T0 + 3 * SEC - 1))
        .await
        .expect("search");
    assert!(ids.is_empty());
    let ids = engine
        .scan_ids(&window(T0 + 4 * SEC, u64::MAX))
        .await
        .expect("search");
    assert_eq!(ids, vec![tid(4)]);
}

#[tokio::test]
async fn traces_split_across_blocks_and_head_restart_and_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    engine
        .write(span("front", "GET /", 7, 1, None, T0, 5000, vec![]))
        .await
        .expect("write");
    engine.flush().await.expect("flush");
    engine
        .write(span(
            "back",
            "query",
            7,
            2,
            Some(1),
            T0 + 10,
            100,
            vec![attr::int("rows", 3)],
        ))
        .await
        .expect("write");
    engine.flush().await.expect("flush");
    engine
        .write(span("db", "select", 7, 3, Some(2), T0 + 20, 50, vec![]))
        .await
        .expect("write");
    let t = engine
        .get_trace(tid(7), None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(spans_of(&t), 3);
    // A search matching a span in the second block returns the trace once.
    let q = ScanRequest {
        predicates: vec![SpanPredicate::text_anywhere("rows", "3")],
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&q).await.expect("search"), vec![tid(7)]);
    let found = engine.scan(&q).await.expect("search");
    assert_eq!(spans_of(&found[0]), 3);
    // Window hint excluding everything.
    let none = engine
        .get_trace(
            tid(7),
            Some(TimeRange {
                start: T0 + 1000 * SEC,
                end: T0 + 2000 * SEC,
            }),
        )
        .await
        .expect("get");
    assert!(
        none.is_none_or(|t| spans_of(&t) <= 1),
        "only head spans may remain"
    );
    // Dependencies are counted where parent and child are stored together (same block or the
    // head): trace 8 has both in the head; trace 7's pairs are split and not counted.
    engine
        .write(span("back", "query", 8, 10, None, T0 + 30, 100, vec![]))
        .await
        .expect("write");
    engine
        .write(span("db", "select", 8, 11, Some(10), T0 + 40, 50, vec![]))
        .await
        .expect("write");
    let deps = engine
        .get_dependencies(T0 + SEC, SEC * 10)
        .await
        .expect("deps");
    assert!(
        deps.iter().any(|d| d.parent == "back" && d.child == "db"),
        "{deps:?}"
    );
    assert_eq!(
        engine.get_services().await.expect("services"),
        vec!["back", "db", "front"]
    );
    let ops = engine
        .get_operations(&OperationQuery {
            service: "back".into(),
            span_kind: Some("server".into()),
        })
        .await
        .expect("ops");
    assert_eq!(ops.len(), 1);

    // Crash: drop without shutdown; the head span comes back from the WAL.
    drop(engine);
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("reopen");
    let t = engine
        .get_trace(tid(7), None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(spans_of(&t), 3);
    assert_eq!(
        engine.get_services().await.expect("services"),
        vec!["back", "db", "front"]
    );
    // Clean restart: shutdown flushes the head; nothing is replayed twice.
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    let t = engine
        .get_trace(tid(7), None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(spans_of(&t), 3);
    assert!(engine.write(vec![]).await.is_ok());
    engine.shutdown().await.expect("shutdown");
    assert!(
        engine.write(vec![]).await.is_err(),
        "writes after shutdown fail"
    );
}

#[tokio::test]
async fn blocks_round_trip_spans_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(support::config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    let mut w = support::workload::Workload::new(7, T0);
    let batches = w.batches(3000);
    for b in &batches {
        engine.write(b.clone()).await.expect("write");
    }
    let from_head: Vec<_> = {
        let mut v = Vec::new();
        for b in batches.iter().take(50) {
            let id = spoor_model::TraceId::from_bytes(&b[0].scope_spans[0].spans[0].trace_id)
                .expect("id");
            v.push(
                engine
                    .get_trace(id, None)
                    .await
                    .expect("get")
                    .expect("found"),
            );
        }
        v
    };
    engine.flush().await.expect("flush");
    for t in from_head {
        let b = engine
            .get_trace(t.id, None)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(normalize(&t), normalize(&b), "trace {}", t.id);
    }
}

/// Spans with sorted attributes, sorted by span id (the block reorders attributes).
fn normalize(t: &spoor_storage::Trace) -> Vec<(Option<String>, spoor_model::Span)> {
    let mut out = Vec::new();
    for rs in &t.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let mut s = s.clone();
                s.attributes.sort_by(|a, b| a.key.cmp(&b.key));
                let res = rs.resource.as_ref().map(|r| format!("{r:?}{:?}", ss.scope));
                out.push((res, s));
            }
        }
    }
    out.sort_by(|a, b| a.1.span_id.cmp(&b.1.span_id));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_task_cuts_and_shutdown_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.background = true;
    config.maintenance_interval = std::time::Duration::from_millis(20);
    config.block_cut_interval = std::time::Duration::from_millis(50);
    let now = support::now_nanos();
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for i in 0..20u64 {
        engine
            .write(span("svc", "op", i + 1, 1, None, now + i, 10, vec![]))
            .await
            .expect("write");
    }
    let mut waited = 0;
    while engine.manifest().blocks.is_empty() && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    assert!(
        !engine.manifest().blocks.is_empty(),
        "the background task cut a block"
    );
    engine.shutdown().await.expect("shutdown");
    let version = engine.manifest().version;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        engine.manifest().version,
        version,
        "no maintenance after shutdown"
    );
    assert!(engine.write(vec![]).await.is_err());
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    assert_eq!(
        engine.recovery().wal_records,
        0,
        "shutdown left nothing to replay"
    );
    let all = ScanRequest {
        limit: 100,
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&all).await.expect("search").len(), 20);
    engine.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn every_trace_comes_back_from_multi_page_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.row_group_spans = 10_000; // several row groups, each of several pages
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut w = support::workload::Workload::new(11, T0);
    let batches = w.batches(25_000);
    let mut want = std::collections::HashMap::new();
    for b in &batches {
        for rs in b {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let id = spoor_model::TraceId::from_bytes(&s.trace_id).expect("id");
                    *want.entry(id).or_insert(0usize) += 1;
                }
            }
        }
        engine.write(b.clone()).await.expect("write");
    }
    engine.flush().await.expect("flush");
    for (id, n) in want {
        let t = engine
            .get_trace(id, None)
            .await
            .expect("get")
            .expect("found");
        assert_eq!(spans_of(&t), n, "trace {id}");
    }
}
