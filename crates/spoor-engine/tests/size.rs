//! Bytes stored per span on the standard workload (`spoor-loadgen`, seed 42, requests of
//! ~1000 spans), after the head is cut every ~25k spans and the blocks are compacted.
//!
//! `cargo test -p spoor-engine --release --test size -- --ignored --nocapture` prints the
//! figure for 200k spans (`SPOOR_INSPECT=1` adds the per-column breakdown); the small default
//! test guards against regressions.

mod support;

use std::time::Duration;

use prost::Message;
use spoor_engine::Engine;
use spoor_loadgen::{DEFAULT_ORIGIN_UNIX_NANOS, Workload};
use spoor_storage::SpanWriter;
use spoor_telemetry::Telemetry;

async fn measure(spans: usize) -> (f64, f64, usize) {
    let (stored, wire, n, _) = measure_with_report(spans).await;
    (stored, wire, n)
}

/// Also returns `inspect`'s report of the data directory.
async fn measure_with_report(spans: usize) -> (f64, f64, usize, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut config, _clock) = support::config_with_clock(dir.path(), DEFAULT_ORIGIN_UNIX_NANOS);
    config.compaction.target_block_bytes = u64::MAX;
    config.compaction.max_input_bytes = u64::MAX;
    config.compaction.window = Duration::from_secs(365 * 24 * 3600);
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let (mut total, mut wire, mut since_cut) = (0usize, 0usize, 0usize);
    for req in Workload::batches(42, 1000) {
        if total >= spans {
            break;
        }
        let n = spoor_model::span_count(&req.resource_spans);
        total += n;
        since_cut += n;
        wire += req.encoded_len();
        engine.write(req.resource_spans).await.expect("write");
        if since_cut >= 25_000 {
            engine.flush().await.expect("flush");
            since_cut = 0;
        }
    }
    engine.flush().await.expect("flush");
    while engine.manifest().blocks.len() > 1 {
        engine.maintain().await.expect("compact");
    }
    let bytes: u64 = engine.manifest().blocks.iter().map(|b| b.size_bytes).sum();
    engine.shutdown().await.expect("shutdown");
    // After shutdown, which deletes the blocks compaction retired.
    let report = spoor_engine::inspect(dir.path()).expect("inspect");
    if std::env::var("SPOOR_INSPECT").is_ok() {
        println!("{report}");
    }
    (
        bytes as f64 / total as f64,
        wire as f64 / total as f64,
        total,
        report,
    )
}

#[tokio::test]
async fn bytes_per_span_small() {
    let (stored, wire, n, report) = measure_with_report(20_000).await;
    // The data directory's report sums every block: its bytes per span are the figure above.
    let line = report
        .lines()
        .find(|l| l.starts_with("columns ("))
        .expect("a columns line");
    assert!(
        line.contains(&format!("{n} spans, {stored:.2} bytes/span")),
        "{line} vs {stored:.2}"
    );
    for column in [
        "span_id",
        "trace_start_unix_nano",
        "start_offset_nano",
        "(all columns)",
    ] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(column)),
            "{column} missing from\n{report}"
        );
    }
    println!(
        "{n} spans: {stored:.1} B/span stored after compaction, {wire:.0} B/span OTLP protobuf"
    );
    assert!(stored < 60.0, "stored {stored:.1} B/span");
}

#[tokio::test]
#[ignore = "large; run in release with --ignored --nocapture"]
async fn bytes_per_span_200k() {
    let (stored, wire, n) = measure(200_000).await;
    println!(
        "{n} spans: {stored:.1} B/span stored after compaction, {wire:.0} B/span OTLP protobuf"
    );
}
