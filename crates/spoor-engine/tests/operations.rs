//! Operations (issue 11): deleting data on demand, and a read-only engine that finds the
//! blocks another engine commits to the same store without a restart.

mod support;

use std::time::Duration;

use spoor_engine::{DeleteFilter, Engine};
use spoor_storage::{OperationQuery, ScanRequest, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{config, span, spans_of, tid};

const T0: u64 = 1_800_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

async fn has(engine: &Engine, trace: u64) -> bool {
    engine
        .get_trace(tid(trace), None)
        .await
        .expect("read")
        .is_some_and(|t| spans_of(&t) > 0)
}

async fn found(engine: &Engine, service: &str) -> usize {
    engine
        .scan_ids(&ScanRequest {
            service: Some(service.into()),
            limit: 1000,
            ..ScanRequest::default()
        })
        .await
        .expect("search")
        .len()
}

/// Traces 1..=10 of `old` at T0, 11..=20 of `new` at T0 + 100 s, and trace 21 with a span
/// of each; the first half is cut into a block before the rest is written, so the store
/// holds a block of `old` only, a mixed block and (until the delete cuts it) a head.
async fn populate(engine: &Engine) {
    for n in 1..=10 {
        engine
            .write(span("old", "op", n, 1, None, T0 + n, 10, vec![]))
            .await
            .expect("write");
    }
    engine.flush().await.expect("flush");
    for n in 11..=20 {
        let start = T0 + 100 * SEC + n;
        engine
            .write(span("new", "op", n, 1, None, start, 10, vec![]))
            .await
            .expect("write");
    }
    engine
        .write(span("old", "op", 21, 1, None, T0 + 21, 10, vec![]))
        .await
        .expect("write");
    engine
        .write(span(
            "new",
            "op",
            21,
            2,
            Some(1),
            T0 + 100 * SEC,
            10,
            vec![],
        ))
        .await
        .expect("write");
    engine.flush().await.expect("flush");
    for n in 30..=32 {
        engine
            .write(span("new", "op", n, 1, None, T0 + 200 * SEC, 10, vec![]))
            .await
            .expect("write");
    }
}

#[tokio::test]
async fn delete_by_service_removes_its_spans_everywhere_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Engine::open(config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    populate(&engine).await;
    let filter = DeleteFilter {
        service: Some("old".into()),
        ..DeleteFilter::default()
    };
    let report = engine.delete(&filter).await.expect("delete");
    assert_eq!(report.spans_deleted, 11, "{report:?}");
    assert_eq!(
        report.blocks_dropped, 1,
        "the block of `old` only: {report:?}"
    );
    assert_eq!(report.blocks_rewritten, 1, "the mixed block: {report:?}");
    for n in 1..=10 {
        assert!(!has(&engine, n).await, "trace {n} of old still served");
    }
    assert_eq!(found(&engine, "old").await, 0);
    assert_eq!(found(&engine, "new").await, 14);
    let services = engine.get_services().await.expect("services");
    assert_eq!(services, vec!["new".to_string()]);
    let mixed = engine
        .get_trace(tid(21), None)
        .await
        .expect("read")
        .expect("trace 21");
    assert_eq!(spans_of(&mixed), 1, "only the span of `new` is left");
    engine.shutdown().await.expect("shutdown");
    drop(engine);

    let engine = Engine::open(config(dir.path()), &Telemetry::new())
        .await
        .expect("reopen");
    for n in 1..=10 {
        assert!(
            !has(&engine, n).await,
            "trace {n} came back after a restart"
        );
    }
    for n in (11..=21).chain(30..=32) {
        assert!(has(&engine, n).await, "trace {n} lost");
    }
    let ops = engine
        .get_operations(&OperationQuery {
            service: "old".into(),
            span_kind: None,
        })
        .await
        .expect("operations");
    assert!(ops.is_empty(), "{ops:?}");
}

#[tokio::test]
async fn delete_before_a_time_keeps_newer_spans() {
    let dir = tempfile::tempdir().expect("tmp");
    let engine = Engine::open(config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    populate(&engine).await;
    let report = engine
        .delete(&DeleteFilter {
            before: Some(T0 + 50 * SEC),
            service: None,
        })
        .await
        .expect("delete");
    assert_eq!(report.spans_deleted, 11, "{report:?}");
    for n in 1..=10 {
        assert!(!has(&engine, n).await, "trace {n} still served");
    }
    for n in (11..=20).chain(30..=32) {
        assert!(has(&engine, n).await, "trace {n} lost");
    }
    let mixed = engine
        .get_trace(tid(21), None)
        .await
        .expect("read")
        .expect("trace 21");
    assert_eq!(spans_of(&mixed), 1);
    // Nothing left to delete: nothing changes.
    let again = engine
        .delete(&DeleteFilter {
            before: Some(T0 + 50 * SEC),
            service: None,
        })
        .await
        .expect("delete");
    assert_eq!(again.spans_deleted, 0, "{again:?}");
    assert!(
        engine.delete(&DeleteFilter::default()).await.is_err(),
        "an empty filter is refused"
    );
}

#[tokio::test]
async fn a_read_only_engine_sees_new_blocks_after_a_refresh_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let writer = Engine::open(config(dir.path()), &Telemetry::new())
        .await
        .expect("open");
    writer
        .write(span("svc", "op", 1, 1, None, T0, 10, vec![]))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    let mut ro = config(dir.path());
    ro.read_only = true;
    ro.manifest_poll_interval = Duration::from_millis(50);
    let reader = Engine::open(ro.clone(), &Telemetry::new())
        .await
        .expect("open read-only");
    assert!(has(&reader, 1).await);
    assert!(
        reader
            .write(span("svc", "op", 9, 1, None, T0, 10, vec![]))
            .await
            .is_err()
    );
    assert!(
        reader
            .delete(&DeleteFilter {
                before: Some(T0 + 1),
                service: None
            })
            .await
            .is_err()
    );

    writer
        .write(span("svc", "op", 2, 1, None, T0 + 1, 10, vec![]))
        .await
        .expect("write");
    assert!(!has(&reader, 2).await, "not in a block yet");
    writer.flush().await.expect("flush");
    assert!(reader.refresh_manifest().await.expect("refresh"));
    assert!(has(&reader, 2).await, "the new block is served");
    assert_eq!(
        reader.get_services().await.expect("services"),
        vec!["svc".to_string()]
    );

    // With the background task, the poll finds the next block by itself.
    ro.background = true;
    let polling = Engine::open(ro, &Telemetry::new())
        .await
        .expect("open read-only");
    writer
        .write(span("svc", "op", 3, 1, None, T0 + 2, 10, vec![]))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !has(&polling, 3).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never found the block"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A delete by the writer reaches the readers on their next refresh.
    writer
        .delete(&DeleteFilter {
            before: Some(T0 + 1),
            service: None,
        })
        .await
        .expect("delete");
    assert!(reader.refresh_manifest().await.expect("refresh"));
    assert!(!has(&reader, 1).await);
    assert!(has(&reader, 3).await);
    polling.shutdown().await.expect("shutdown");
    reader.shutdown().await.expect("shutdown");
    writer.shutdown().await.expect("shutdown");
    assert!(!dir.path().join("wal").join("damaged").exists());
}
