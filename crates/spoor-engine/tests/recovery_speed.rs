//! WAL replay speed (GOALS.md: ≤ 5 s per GiB of WAL after kill -9).
//!
//! `cargo test -p spoor-engine --release --test recovery_speed -- --ignored --nocapture`

mod support;

use std::time::Instant;

use spoor_engine::Engine;
use spoor_loadgen::{DEFAULT_ORIGIN_UNIX_NANOS, Workload};
use spoor_storage::SpanWriter;
use spoor_telemetry::Telemetry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "large; run in release with --ignored --nocapture"]
async fn wal_replay_speed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), DEFAULT_ORIGIN_UNIX_NANOS);
    config.block_cut_bytes = u64::MAX / 8;
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    let mut spans = 0;
    for req in Workload::batches(42, 1000).take(500) {
        spans += spoor_model::span_count(&req.resource_spans);
        engine.write(req.resource_spans).await.expect("write");
    }
    drop(engine); // as kill -9: no flush
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let wal_bytes: u64 = std::fs::read_dir(dir.path().join("wal"))
        .expect("wal")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(engine.recovery().wal_records, 500);
    println!(
        "replayed {spans} spans, {:.1} MiB of WAL in {secs:.2} s: {:.1} s/GiB",
        wal_bytes as f64 / (1 << 20) as f64,
        secs / (wal_bytes as f64 / (1u64 << 30) as f64)
    );
}
