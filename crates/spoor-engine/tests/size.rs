//! Bytes stored per span on the standard-like workload (tests/support/workload.rs).
//!
//! `cargo test -p spoor-engine --release --test size -- --ignored --nocapture` prints the
//! figure for 200k spans; the small default test guards against regressions.

mod support;

use prost::Message;
use spoor_engine::{Engine, EngineConfig};
use spoor_model::otlp_collector::ExportTraceServiceRequest;
use spoor_storage::SpanWriter;
use spoor_telemetry::Telemetry;

async fn measure(spans: usize, cuts: usize) -> (f64, f64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config: EngineConfig = support::config(dir.path());
    config.compaction.target_block_bytes = u64::MAX;
    config.compaction.max_input_bytes = u64::MAX;
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    let mut w = support::workload::Workload::new(42, support::now_nanos() - 3_600_000_000_000);
    let batches = w.batches(spans);
    let total: usize = batches.iter().map(|b| spoor_model::span_count(b)).sum();
    let wire: usize = batches
        .iter()
        .map(|b| {
            ExportTraceServiceRequest {
                resource_spans: b.clone(),
            }
            .encoded_len()
        })
        .sum();
    let per_cut = batches.len().div_ceil(cuts);
    for chunk in batches.chunks(per_cut) {
        for b in chunk {
            engine.write(b.clone()).await.expect("write");
        }
        engine.flush().await.expect("flush");
    }
    while engine.manifest().blocks.len() > 1 {
        engine.maintain().await.expect("compact");
    }
    let bytes: u64 = engine.manifest().blocks.iter().map(|b| b.size_bytes).sum();
    if std::env::var("SPOOR_INSPECT").is_ok() {
        for b in &engine.manifest().blocks {
            let path = dir
                .path()
                .join("store/blocks")
                .join(format!("{}.parquet", b.id));
            println!("{}", spoor_engine::inspect_block(&path).expect("inspect"));
        }
    }
    engine.shutdown().await.expect("shutdown");
    (
        bytes as f64 / total as f64,
        wire as f64 / total as f64,
        total,
    )
}

#[tokio::test]
async fn bytes_per_span_small() {
    let (stored, wire, n) = measure(20_000, 4).await;
    println!(
        "{n} spans: {stored:.1} B/span stored after compaction, {wire:.0} B/span OTLP protobuf"
    );
    assert!(stored < 60.0, "stored {stored:.1} B/span");
}

#[tokio::test]
#[ignore = "large; run in release with --ignored --nocapture"]
async fn bytes_per_span_200k() {
    let (stored, wire, n) = measure(200_000, 8).await;
    println!(
        "{n} spans: {stored:.1} B/span stored after compaction, {wire:.0} B/span OTLP protobuf"
    );
}
