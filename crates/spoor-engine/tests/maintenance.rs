//! Cut, retention and compaction driven by a manual clock; compaction's crash safety.

mod support;

use std::time::Duration;

use spoor_engine::Engine;
use spoor_storage::{ScanRequest, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{span, spans_of, tid};

const HOUR: u64 = 3_600_000_000_000;
const NOW: u64 = 1_800_000_000_000_000_000;

#[tokio::test]
async fn cut_by_interval_and_retention_by_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, clock) = support::config_with_clock(dir.path(), NOW);
    let telemetry = Telemetry::new();
    let engine = Engine::open(config, &telemetry).await.expect("open");
    engine
        .write(span("old", "op", 1, 1, None, NOW - 100 * HOUR, 10, vec![]))
        .await
        .expect("write");
    engine.maintain().await.expect("maintain");
    assert!(engine.manifest().blocks.is_empty(), "not due yet");
    clock.advance(Duration::from_secs(61));
    engine.maintain().await.expect("maintain");
    // The block holding 100 h old spans was cut, then dropped by retention (72 h).
    assert!(engine.manifest().blocks.is_empty());
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_retention_dropped_blocks_total 1")
    );
    assert!(
        engine.get_services().await.expect("services").is_empty(),
        "catalog expires too"
    );

    engine
        .write(span("new", "op", 2, 1, None, NOW, 10, vec![]))
        .await
        .expect("write");
    engine.flush().await.expect("flush");
    clock.advance(Duration::from_secs(71 * 3600));
    engine.maintain().await.expect("maintain");
    assert_eq!(engine.manifest().blocks.len(), 1, "71 h old: kept");
    clock.advance(Duration::from_secs(2 * 3600));
    engine.maintain().await.expect("maintain");
    assert!(engine.manifest().blocks.is_empty(), "73 h old: dropped");
    assert!(engine.get_trace(tid(2), None).await.expect("get").is_none());
}

async fn write_in_blocks(engine: &Engine) {
    // Three blocks: trace 1 spread over all of them, traces 2 and 3 beside it.
    for (i, (trace, sp)) in [(1u64, 1u64), (2, 1), (1, 2), (3, 1), (1, 3)]
        .iter()
        .enumerate()
    {
        let parent = (*sp > 1).then_some(sp - 1);
        engine
            .write(span(
                "svc",
                "op",
                *trace,
                *sp,
                parent,
                NOW + i as u64,
                10,
                vec![],
            ))
            .await
            .expect("write");
        if i % 2 == 0 {
            engine.flush().await.expect("flush");
        }
    }
    engine.flush().await.expect("flush");
}

#[tokio::test]
async fn compaction_merges_a_window_keeping_traces_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _clock) = support::config_with_clock(dir.path(), NOW);
    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    write_in_blocks(&engine).await;
    assert_eq!(engine.manifest().blocks.len(), 3);
    engine.maintain().await.expect("compact");
    let m = engine.manifest();
    assert_eq!(m.blocks.len(), 1);
    assert_eq!(m.blocks[0].level, 1);
    assert_eq!(m.blocks[0].span_count, 5);
    assert_eq!(m.blocks[0].trace_count, 3);
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_compactions_total 1")
    );
    let t = engine
        .get_trace(tid(1), None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(spans_of(&t), 3);
    let all = ScanRequest {
        limit: 10,
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&all).await.expect("search").len(), 3);
    // Only the compacted block is left on disk once the retired blocks are reaped (in the
    // background, as soon as no reader holds the old manifest).
    let count = || {
        std::fs::read_dir(dir.path().join("store/blocks"))
            .expect("blocks")
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count() != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count(), 1);
}

#[tokio::test]
async fn crash_between_compaction_output_and_manifest_keeps_the_old_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), NOW);
    config.orphan_grace = std::time::Duration::ZERO;
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    write_in_blocks(&engine).await;
    let before = engine.manifest();
    engine.fail_compaction_before_commit(true);
    assert!(engine.maintain().await.is_err(), "simulated crash");
    assert_eq!(*engine.manifest(), *before, "manifest unchanged");
    let files = std::fs::read_dir(dir.path().join("store/blocks"))
        .expect("blocks")
        .count();
    assert_eq!(files, 4, "three live blocks and the uncommitted output");
    drop(engine);

    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    assert_eq!(engine.manifest().blocks, before.blocks);
    let files = std::fs::read_dir(dir.path().join("store/blocks"))
        .expect("blocks")
        .count();
    assert_eq!(files, 3, "the orphan output was moved aside on open");
    let quarantined = std::fs::read_dir(dir.path().join("store/quarantine"))
        .expect("quarantine")
        .count();
    assert_eq!(quarantined, 1, "the orphan output is kept in quarantine/");
    assert_eq!(engine.recovery().orphan_blocks, 1);
    let t = engine
        .get_trace(tid(1), None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(spans_of(&t), 3);
    engine.maintain().await.expect("compact after restart");
    assert_eq!(engine.manifest().blocks.len(), 1);
    assert_eq!(
        spans_of(
            &engine
                .get_trace(tid(1), None)
                .await
                .expect("get")
                .expect("found")
        ),
        3
    );
}
