//! Memory: the head holds spans encoded and stays inside its share of `--memory-limit`.

mod support;

use spoor_engine::{Engine, EngineConfig};
use spoor_loadgen::{DEFAULT_ORIGIN_UNIX_NANOS, Workload};
use spoor_storage::{ScanRequest, SpanReader, SpanWriter, StorageError};
use spoor_telemetry::Telemetry;

fn metric(t: &Telemetry, name: &str) -> f64 {
    t.render()
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(-1.0)
}

fn limited(dir: &std::path::Path, limit: u64) -> EngineConfig {
    let (mut config, _clock) = support::config_with_clock(dir, DEFAULT_ORIGIN_UNIX_NANOS);
    config.memory_limit = Some(limit);
    config
}

/// With a 32 MiB limit the head may hold 4 MiB (an eighth): writes beyond that are refused with `Full`
/// (429 / RESOURCE_EXHAUSTED at the receivers) and counted; after a cut they are accepted
/// again, and everything acknowledged is served.
#[tokio::test]
async fn writes_are_refused_once_the_head_holds_its_share_of_the_memory_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let telemetry = Telemetry::new();
    let engine = Engine::open(limited(dir.path(), 32 << 20), &telemetry)
        .await
        .expect("open");
    let mut accepted = 0usize;
    let mut refused = None;
    for req in Workload::batches(7, 1000).take(400) {
        let n = spoor_model::span_count(&req.resource_spans);
        match engine.write(req.resource_spans).await {
            Ok(()) => accepted += n,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let Some(StorageError::Full(msg)) = refused else {
        panic!("expected Full after {accepted} spans, got {refused:?}");
    };
    assert!(msg.contains("4 MiB"), "{msg}");
    assert!(accepted > 1000, "{accepted}");
    let head = metric(&telemetry, "spoor_engine_head_memory_bytes");
    assert!(head > 4.0 * 1048576.0 && head < 6.0 * 1048576.0, "{head}");
    assert_eq!(
        metric(&telemetry, "spoor_engine_head_full_refusals_total"),
        1.0
    );

    engine.flush().await.expect("cut");
    let more = Workload::batches(8, 1000).next().expect("batch");
    engine
        .write(more.resource_spans)
        .await
        .expect("accepted after the cut");
    let q = ScanRequest {
        limit: 10_000,
        ..ScanRequest::default()
    };
    assert!(engine.scan_ids(&q).await.expect("search").len() > 10);
}

/// With background cuts running, a write that finds the head full waits for a cut to free
/// room instead of being refused: a writer faster than the cuts is slowed, not turned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_head_makes_writes_wait_for_a_cut_not_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let telemetry = Telemetry::new();
    let mut config = limited(dir.path(), 32 << 20);
    config.background = true;
    config.maintenance_interval = std::time::Duration::from_millis(50);
    let engine = Engine::open(config, &telemetry).await.expect("open");
    let mut accepted = 0usize;
    for req in Workload::batches(11, 1000).take(60) {
        accepted += spoor_model::span_count(&req.resource_spans);
        engine
            .write(req.resource_spans)
            .await
            .expect("a write waits for room, it is not refused");
    }
    let waits = metric(&telemetry, "spoor_engine_head_full_waits_total");
    let written = metric(&telemetry, "spoor_engine_blocks_written_total");
    println!("{accepted} spans, {waits} waits, {written} blocks");
    // 60 batches hold several times the 4 MiB budget: writes had to wait for cuts.
    assert!(waits >= 1.0, "{waits}");
    assert!(written >= 2.0, "{written}");
    assert_eq!(
        metric(&telemetry, "spoor_engine_head_full_refusals_total"),
        0.0
    );
    let head = metric(&telemetry, "spoor_engine_head_memory_bytes");
    assert!(head < 6.0 * 1048576.0, "{head}");
    engine.shutdown().await.expect("shutdown");
}

/// Without a memory limit the head's budget is two cuts; the head holds about its WAL bytes
/// (spans are kept encoded), not the several times more decoded OTLP takes.
#[tokio::test]
async fn the_head_holds_about_its_wal_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let telemetry = Telemetry::new();
    let (config, _clock) = support::config_with_clock(dir.path(), DEFAULT_ORIGIN_UNIX_NANOS);
    let engine = Engine::open(config, &telemetry).await.expect("open");
    let mut decoded = 0usize;
    for req in Workload::batches(9, 1000).take(50) {
        decoded += estimated_decoded_size(&req.resource_spans);
        engine.write(req.resource_spans).await.expect("write");
    }
    let wal = metric(&telemetry, "spoor_engine_wal_bytes");
    let head = metric(&telemetry, "spoor_engine_head_memory_bytes");
    println!("wal {wal} B, head {head} B, decoded at least {decoded} B");
    assert!(wal > 0.0 && head > 0.0);
    assert!(
        head < 1.6 * wal + 2.0 * 1048576.0,
        "head {head} vs wal {wal}"
    );
    assert!(
        head * 2.0 < decoded as f64,
        "head {head} vs decoded {decoded}"
    );
}

/// A lower bound of the heap a decoded batch holds: struct sizes and string/byte buffers.
fn estimated_decoded_size(batch: &[spoor_model::ResourceSpans]) -> usize {
    use spoor_model::otlp_common::KeyValue;
    let kv = |a: &[KeyValue]| {
        a.iter()
            .map(|k| std::mem::size_of::<KeyValue>() + k.key.len() + 8)
            .sum::<usize>()
    };
    let mut n = 0;
    for rs in batch {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                n += std::mem::size_of::<spoor_model::Span>()
                    + s.trace_id.len()
                    + s.span_id.len()
                    + s.parent_span_id.len()
                    + s.name.len()
                    + kv(&s.attributes)
                    + s.events.len() * std::mem::size_of::<spoor_model::otlp_trace::span::Event>()
                    + s.events.iter().map(|e| kv(&e.attributes)).sum::<usize>();
            }
        }
    }
    n
}
