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

/// `count` spans of trace `trace` in one batch, each the child of the one before (span ids
/// from `first`, whose parent is `first - 1`), starting at `start` one nanosecond apart.
fn chain(trace: u64, first: u64, count: u64, start: u64) -> Vec<spoor_model::ResourceSpans> {
    let parent = (first > 1).then(|| first - 1);
    let mut batch = span("svc", "op", trace, first, parent, start, 10, vec![]);
    let spans = &mut batch[0].scope_spans[0].spans;
    for i in 1..count {
        let mut s = spans[0].clone();
        s.span_id = (first + i).to_be_bytes().to_vec();
        s.parent_span_id = (first + i - 1).to_be_bytes().to_vec();
        s.start_time_unix_nano = start + i;
        s.end_time_unix_nano = start + i + 10;
        spans.push(s);
    }
    batch
}

/// Compaction reads its inputs a record batch at a time (1024 rows) and hands each trace on
/// once all its rows are read: a 5000-span trace spread over five batches, between shorter
/// ones, keeps every parent link through the merge.
#[tokio::test]
async fn compaction_keeps_the_parents_of_a_trace_longer_than_a_read_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _clock) = support::config_with_clock(dir.path(), NOW);
    let telemetry = Telemetry::new();
    let engine = Engine::open(config, &telemetry).await.expect("open");
    for (trace, first, count) in [(1u64, 1u64, 700u64), (2, 1, 5000), (3, 1, 900)] {
        engine
            .write(chain(trace, first, count, NOW + trace * 100_000))
            .await
            .expect("write");
    }
    engine.flush().await.expect("flush");
    engine
        .write(chain(2, 5001, 300, NOW + 300_000))
        .await
        .expect("write");
    engine.flush().await.expect("flush");
    assert_eq!(engine.manifest().blocks.len(), 2);
    engine.maintain().await.expect("compact");
    let m = engine.manifest();
    assert_eq!(m.blocks.len(), 1, "{m:?}");
    assert_eq!(m.blocks[0].span_count, 6900);
    for (trace, count) in [(1u64, 700u64), (2, 5300), (3, 900)] {
        let t = engine
            .get_trace(tid(trace), None)
            .await
            .expect("get")
            .expect("found");
        let mut parents: Vec<(u64, u64)> = t
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| {
                let id = |b: &[u8]| b.try_into().map(u64::from_be_bytes).unwrap_or(0);
                (id(&s.span_id), id(&s.parent_span_id))
            })
            .collect();
        parents.sort_unstable();
        let wrong = (1..=count)
            .zip(&parents)
            .filter(|(i, got)| **got != (*i, i - 1))
            .count();
        assert_eq!(parents.len() as u64, count, "trace {trace}");
        assert_eq!(wrong, 0, "trace {trace}: {wrong} spans with a wrong parent");
    }
}

/// Under a memory limit a compaction starts only if its merge fits in what the limit leaves:
/// with the process holding 64 MiB under a 48 MiB limit it waits (counted), and the blocks are
/// merged once the engine is opened without one.
#[tokio::test]
async fn compaction_waits_while_the_memory_limit_leaves_no_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), NOW);
    config.memory_limit = Some(48 << 20);
    // Resident, not just reserved: every page is written.
    let ballast = std::hint::black_box(vec![1u8; 64 << 20]);
    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open");
    write_in_blocks(&engine).await;
    engine.maintain().await.expect("maintain");
    assert_eq!(engine.manifest().blocks.len(), 3);
    let text = telemetry.render();
    assert!(text.contains("spoor_engine_compactions_total 0"), "{text}");
    assert!(
        text.contains("spoor_engine_compactions_deferred_total 1"),
        "{text}"
    );
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    drop(ballast);

    config.memory_limit = None;
    let telemetry = Telemetry::new();
    let engine = Engine::open(config, &telemetry).await.expect("reopen");
    engine.maintain().await.expect("compact");
    assert_eq!(engine.manifest().blocks.len(), 1);
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_compactions_total 1")
    );
}
