//! Encryption at rest (issue 16): WAL records, blocks and manifests sealed with the current
//! key; old keys read what they wrote; a missing or wrong key is a clear error, never
//! corruption (no quarantine, nothing rebuilt or dropped).

mod support;

use std::path::Path;
use std::sync::Arc;

use spoor_engine::{Engine, EngineConfig, Keyring};
use spoor_storage::{SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{span, tid};

const T0: u64 = 1_800_000_000_000_000_000;
const SECRET: &str = "svc-zebra-secret";

fn keys(current: Option<(&str, u8)>, old: &[(&str, u8)]) -> Arc<Keyring> {
    let mut ring = match current {
        Some((id, b)) => Keyring::new(id, [b; 32]).expect("ring"),
        None => Keyring::none(),
    };
    for (id, b) in old {
        ring.add(id, [*b; 32]).expect("old key");
    }
    Arc::new(ring)
}

fn config(dir: &Path, ring: Arc<Keyring>) -> EngineConfig {
    let (mut c, _clock) = support::config_with_clock(dir, T0);
    c.keys = ring;
    c
}

async fn write(engine: &Engine, from: u64, to: u64) {
    for t in from..to {
        engine
            .write(span(SECRET, "op-secret", t, 1, None, T0 + t, 10, vec![]))
            .await
            .expect("write");
    }
}

async fn readable(engine: &Engine, from: u64, to: u64) -> usize {
    let mut n = 0;
    for t in from..to {
        if engine.get_trace(tid(t), None).await.expect("get").is_some() {
            n += 1;
        }
    }
    n
}

/// Every file under `dir` holding `needle`.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Blocks (one compacted), a manifest and WAL records, all under key `k1`.
async fn populated(dir: &Path) {
    let engine = Engine::open(config(dir, keys(Some(("k1", 1)), &[])), &Telemetry::new())
        .await
        .expect("open");
    for (from, to) in [(1, 11), (11, 21), (21, 31)] {
        write(&engine, from, to).await;
        engine.flush().await.expect("flush");
    }
    engine.maintain().await.expect("compact");
    write(&engine, 31, 41).await; // only in the WAL
    drop(engine);
    // The compaction's inputs are deleted in the background: wait until that is done.
    let blocks = dir.join("store/blocks");
    let mut last = files_under(&blocks);
    let mut stable = 0;
    while stable < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = files_under(&blocks);
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
    }
}

#[tokio::test]
async fn nothing_on_disk_holds_a_service_name_and_everything_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path()).await;
    assert!(!files_under(&dir.path().join("store/blocks")).is_empty());
    assert_eq!(
        files_with(dir.path(), SECRET.as_bytes()),
        Vec::<String>::new()
    );
    assert_eq!(files_with(dir.path(), b"op-secret"), Vec::<String>::new());

    let engine = Engine::open(
        config(dir.path(), keys(Some(("k1", 1)), &[])),
        &Telemetry::new(),
    )
    .await
    .expect("reopen");
    assert_eq!(engine.recovery().wal_records, 10, "{:?}", engine.recovery());
    assert_eq!(readable(&engine, 1, 41).await, 40);
    let services = engine.get_services().await.expect("services");
    assert!(services.iter().any(|s| s == SECRET), "{services:?}");

    // Without encryption the same writes leave the name in the files (the check can fail).
    let plain = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(plain.path(), keys(None, &[])), &Telemetry::new())
        .await
        .expect("open plain");
    write(&engine, 1, 3).await;
    engine.flush().await.expect("flush");
    write(&engine, 3, 5).await;
    drop(engine);
    assert!(!files_with(plain.path(), SECRET.as_bytes()).is_empty());
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_refused_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path()).await;
    let store = dir.path().join("store");
    let before = (
        files_under(&store.join("blocks")),
        files_under(&store.join("manifest")),
        files_under(&dir.path().join("wal")),
    );
    for (ring, expect) in [
        (keys(None, &[]), "no encryption key is configured"),
        (
            keys(Some(("k2", 2)), &[]),
            "\"k1\", which is not configured",
        ),
        (keys(Some(("k1", 9)), &[]), "do not decrypt"),
    ] {
        let err = Engine::open(config(dir.path(), ring), &Telemetry::new())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expect), "{err:?} should say {expect:?}");
        let after = (
            files_under(&store.join("blocks")),
            files_under(&store.join("manifest")),
            files_under(&dir.path().join("wal")),
        );
        assert_eq!(after, before, "nothing moved, rebuilt or cut");
        assert!(files_under(&store.join("quarantine")).is_empty());
        assert!(files_under(&dir.path().join("wal/damaged")).is_empty());
    }
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k1", 1)), &[])),
        &Telemetry::new(),
    )
    .await
    .expect("the right key");
    assert_eq!(readable(&engine, 1, 41).await, 40);
}

#[tokio::test]
async fn the_wal_alone_under_a_missing_key_stops_the_start_before_any_repair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k1", 1)), &[])),
        &Telemetry::new(),
    )
    .await
    .expect("open");
    write(&engine, 1, 6).await;
    drop(engine);
    let wal = dir.path().join("wal");
    let sizes = |d: &Path| -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(d)
            .expect("wal")
            .flatten()
            .filter_map(|e| e.metadata().ok().filter(|m| m.is_file()).map(|m| m.len()))
            .collect();
        v.sort();
        v
    };
    let before = sizes(&wal);
    let err = Engine::open(
        config(dir.path(), keys(Some(("k2", 2)), &[])),
        &Telemetry::new(),
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("wal segment") && err.contains("\"k1\", which is not configured"),
        "{err}"
    );
    assert_eq!(sizes(&wal), before, "no tail cut, nothing moved aside");
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k2", 2)), &[("k1", 1)])),
        &Telemetry::new(),
    )
    .await
    .expect("with the old key");
    assert_eq!(readable(&engine, 1, 6).await, 5);
}

#[tokio::test]
async fn rotation_reads_old_blocks_and_a_dropped_old_key_fails_reads_without_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k1", 1)), &[])),
        &Telemetry::new(),
    )
    .await
    .expect("open");
    write(&engine, 1, 11).await;
    engine.flush().await.expect("flush");
    drop(engine);

    // Rotated: k2 is current, k1 still read.
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k2", 2)), &[("k1", 1)])),
        &Telemetry::new(),
    )
    .await
    .expect("rotated");
    assert_eq!(readable(&engine, 1, 11).await, 10);
    write(&engine, 101, 111).await;
    engine.flush().await.expect("flush");
    drop(engine);

    // k1 dropped: the manifest (now under k2) opens, the k1 block does not, and says so.
    let telemetry = Telemetry::new();
    let engine = Engine::open(config(dir.path(), keys(Some(("k2", 2)), &[])), &telemetry)
        .await
        .expect("open with k2 only");
    assert_eq!(readable(&engine, 101, 111).await, 10, "k2's block reads");
    let err = engine
        .get_trace(tid(1), None)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("\"k1\", which is not configured"), "{err}");
    assert!(err.contains("block "), "{err}");
    let metrics = telemetry.render();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("spoor_engine_encryption_key_errors_total") && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
    let store = dir.path().join("store");
    assert!(files_under(&store.join("quarantine")).is_empty());
    assert_eq!(files_under(&store.join("blocks")).len(), 2);
    drop(engine);

    // Back with k1: everything is there.
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k2", 2)), &[("k1", 1)])),
        &Telemetry::new(),
    )
    .await
    .expect("reopen");
    assert_eq!(readable(&engine, 1, 11).await, 10);
    assert_eq!(readable(&engine, 101, 111).await, 10);
    // A compaction rewrites the k1 block under k2: then k1 is no longer needed.
    engine.maintain().await.expect("compact");
    drop(engine);
    let engine = Engine::open(
        config(dir.path(), keys(Some(("k2", 2)), &[])),
        &Telemetry::new(),
    )
    .await
    .expect("k2 only after compaction");
    assert_eq!(readable(&engine, 1, 11).await, 10);
    assert_eq!(readable(&engine, 101, 111).await, 10);
}
