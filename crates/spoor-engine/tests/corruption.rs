//! Damaged data: a block with flipped bytes is quarantined and the rest served; a WAL cut
//! mid-record or with a corrupt record is repaired on open (the scan resumes at the next
//! intact record); metrics count both.

mod support;

use std::io::Write;

use spoor_engine::{Engine, verify};
use spoor_storage::{ScanRequest, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{span, tid};

const T0: u64 = 1_800_000_000_000_000_000;

fn wal_segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .expect("wal dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn flipped_bytes_in_a_block_quarantine_it_and_serve_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for i in 1..=2u64 {
        engine
            .write(span("svc", "op", i, 1, None, T0 + i, 10, vec![]))
            .await
            .expect("write");
        engine.flush().await.expect("flush");
    }
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    let first = &spoor_engine::Manifest::clone(
        &Engine::open(config.clone(), &Telemetry::new())
            .await
            .expect("open")
            .manifest(),
    )
    .blocks[0];
    let path = dir
        .path()
        .join("store/blocks")
        .join(format!("{}.parquet", first.id));
    let mut bytes = std::fs::read(&path).expect("read block");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).expect("write block");

    let report = verify(&config).await.expect("verify");
    assert!(!report.is_ok(), "verify notices the flipped bytes");

    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open with corrupt block");
    let all = ScanRequest {
        limit: 100,
        ..ScanRequest::default()
    };
    let ids = engine.scan_ids(&all).await.expect("search serves the rest");
    assert_eq!(ids, vec![tid(2)]);
    assert!(engine.get_trace(tid(1), None).await.expect("get").is_none());
    assert!(engine.get_trace(tid(2), None).await.expect("get").is_some());
    assert!(
        telemetry
            .render()
            .contains("spoor_engine_corrupt_blocks_total 1"),
        "{}",
        telemetry.render()
    );
    assert_eq!(engine.manifest().blocks.len(), 1);
    assert!(
        dir.path()
            .join("store/quarantine")
            .join(format!("{}.parquet", first.id))
            .exists()
    );
    engine.shutdown().await.expect("shutdown");
    let report = verify(&config).await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test]
async fn torn_and_corrupt_wal_records_are_cut_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::config(dir.path());
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    for i in 1..=3u64 {
        engine
            .write(span("svc", "op", i, 1, None, T0 + i, 10, vec![]))
            .await
            .expect("write");
    }
    drop(engine); // crash: no flush
    // Give the WAL thread a moment to drain and exit.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let seg = wal_segments(dir.path()).pop().expect("segment");
    let mut data = std::fs::read(&seg).expect("read wal");
    let len = data.len();
    // Corrupt one byte inside the second record's payload; the scan resumes at the third.
    let rec = (len - 8) / 3;
    data[8 + rec + 20] ^= 0xff;
    std::fs::write(&seg, &data).expect("write wal");
    // Also a partly written record header in a later segment, as a crash mid-append leaves.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    f.write_all(&[1, 2]).expect("append");
    drop(f);

    let report = verify(&config).await.expect("verify");
    assert_eq!(report.wal_corrupt_records, 1, "{report:?}");

    let telemetry = Telemetry::new();
    let engine = Engine::open(config.clone(), &telemetry)
        .await
        .expect("open after damage");
    let all = ScanRequest {
        limit: 100,
        ..ScanRequest::default()
    };
    assert_eq!(
        engine.scan_ids(&all).await.expect("search"),
        vec![tid(3), tid(1)]
    );
    let metrics = telemetry.render();
    assert!(
        metrics.contains("spoor_engine_wal_corrupt_records_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("spoor_engine_wal_torn_bytes_total 0"),
        "{metrics}"
    );
    // The engine writes on after repair.
    engine
        .write(span("svc", "op", 9, 1, None, T0 + 9, 10, vec![]))
        .await
        .expect("write");
    engine.shutdown().await.expect("shutdown");
    drop(engine);
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    assert_eq!(
        engine.scan_ids(&all).await.expect("search"),
        vec![tid(9), tid(3), tid(1)]
    );
}
