//! The data directories written by each format version (`tests/fixtures/engine-v<N>/` at the
//! repository root) must keep loading: blocks, manifest and a WAL with unflushed spans. The
//! same checks run on every version's fixture.
//!
//! Write the current version's fixture (only when introducing a new format version, into a
//! new folder; never overwrite an older one):
//! `SPOOR_WRITE_FIXTURE=1 cargo test -p spoor-engine --test fixture_v1 -- --ignored`
//!
//! `engine-v3-encrypted/` is the same data written with encryption at rest (key
//! [`FIXTURE_KEY`] under id `fixture`): encrypted blocks, WAL records and manifests must keep
//! loading too.

mod support;

use std::path::{Path, PathBuf};

use spoor_engine::{Engine, FsyncPolicy};
use spoor_model::otlp_common::any_value::Value;
use spoor_model::otlp_common::{AnyValue, ArrayValue};
use spoor_model::otlp_trace::span::{Event, Link};
use spoor_model::{ResourceSpans, attr};
use spoor_storage::{ScanRequest, SpanPredicate, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use support::{span, spans_of, tid};

const T0: u64 = 1_700_000_000_000_000_000;

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/engine-v{version}"))
}

/// The test key of the encrypted fixture (never a real key).
const FIXTURE_KEY: [u8; 32] = [0x5a; 32];

fn fixture_keys() -> std::sync::Arc<spoor_engine::Keyring> {
    std::sync::Arc::new(spoor_engine::Keyring::new("fixture", FIXTURE_KEY).expect("keyring"))
}

fn encrypted_fixture_dir() -> PathBuf {
    let v = fixture_dir(spoor_engine::FORMAT_VERSION);
    v.with_file_name(format!(
        "{}-encrypted",
        v.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    ))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

fn rich_span() -> Vec<ResourceSpans> {
    let mut b = span(
        "checkout",
        "POST /pay",
        3,
        30,
        None,
        T0 + 3_000,
        2_500_000,
        vec![
            attr::string("http.request.method", "POST"),
            attr::int("http.response.status_code", 201),
            // In the order a v1 block gives them back: dedicated columns, `attributes`,
            // `attributes_int`, `attributes_double`, `attributes_bool`.
            attr::bytes("blob", vec![0, 1, 2]),
            AnyValueKv::array("tags", &["a", "b"]),
            attr::double("ratio", 0.25),
            attr::bool("retry", true),
        ],
    );
    let s = &mut b[0].scope_spans[0].spans[0];
    s.events.push(Event {
        time_unix_nano: T0 + 3_500,
        name: "exception".into(),
        attributes: vec![attr::string("exception.type", "Timeout")],
        dropped_attributes_count: 0,
    });
    s.links.push(Link {
        trace_id: tid(1).0.to_vec(),
        span_id: 10u64.to_be_bytes().to_vec(),
        ..Default::default()
    });
    b
}

struct AnyValueKv;
impl AnyValueKv {
    fn array(key: &str, items: &[&str]) -> spoor_model::otlp_common::KeyValue {
        spoor_model::otlp_common::KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: items
                        .iter()
                        .map(|s| AnyValue {
                            value: Some(Value::StringValue((*s).into())),
                        })
                        .collect(),
                })),
            }),
            ..Default::default()
        }
    }
}

#[tokio::test]
#[ignore = "writes the fixture; run only when creating a new format version"]
async fn write_fixture() {
    if std::env::var("SPOOR_WRITE_FIXTURE").is_err() {
        return;
    }
    for (dir, keys) in [
        (fixture_dir(spoor_engine::FORMAT_VERSION), None),
        (encrypted_fixture_dir(), Some(fixture_keys())),
    ] {
        if !dir.exists() {
            write_fixture_to(&dir, keys).await;
        }
    }
}

async fn write_fixture_to(dir: &Path, keys: Option<std::sync::Arc<spoor_engine::Keyring>>) {
    let (mut config, _clock) = support::config_with_clock(dir, T0 + 3_600_000_000_000);
    config.keys = keys.unwrap_or_default();
    config.row_group_spans = 64;
    config.wal_fsync = FsyncPolicy::Always;
    config.retention = std::time::Duration::from_secs(u64::MAX / 4_000_000_000);
    let engine = Engine::open(config, &Telemetry::new()).await.expect("open");
    engine
        .write(span(
            "frontend",
            "GET /",
            1,
            10,
            None,
            T0,
            5_000_000,
            vec![],
        ))
        .await
        .expect("w");
    engine
        .write(span(
            "cart",
            "get-cart",
            1,
            11,
            Some(10),
            T0 + 1_000,
            900_000,
            vec![],
        ))
        .await
        .expect("w");
    engine
        .write(span(
            "frontend",
            "GET /health",
            2,
            20,
            None,
            T0 + 2_000,
            1_000,
            vec![],
        ))
        .await
        .expect("w");
    engine.write(rich_span()).await.expect("w");
    engine.flush().await.expect("flush");
    // Unflushed: stays in the WAL.
    engine
        .write(span(
            "redis",
            "GET",
            1,
            12,
            Some(11),
            T0 + 1_500,
            50_000,
            vec![],
        ))
        .await
        .expect("w");
    engine
        .write(span(
            "frontend",
            "GET /late",
            4,
            40,
            None,
            T0 + 4_000,
            7_000,
            vec![],
        ))
        .await
        .expect("w");
    drop(engine);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}

#[tokio::test]
async fn fixture_v1_loads() {
    check_fixture(1).await;
}

#[tokio::test]
async fn fixture_v2_loads() {
    check_fixture(2).await;
}

#[tokio::test]
async fn fixture_v3_loads() {
    check_fixture(3).await;
}

#[tokio::test]
async fn fixture_v3_encrypted_loads() {
    check_fixture_dir(&encrypted_fixture_dir(), 3, fixture_keys()).await;
}

async fn check_fixture(version: u32) {
    check_fixture_dir(&fixture_dir(version), version, Default::default()).await;
}

async fn check_fixture_dir(src: &Path, version: u32, keys: std::sync::Arc<spoor_engine::Keyring>) {
    if !src.join("store").is_dir() {
        panic!("fixture {} missing", src.display());
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(src, tmp.path());
    let (mut config, _clock) = support::config_with_clock(tmp.path(), T0 + 3_600_000_000_000);
    config.keys = keys;
    config.retention = std::time::Duration::from_secs(u64::MAX / 4_000_000_000);
    let report = spoor_engine::verify(&config).await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.wal_records, 2, "{report:?}");
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("open fixture");
    assert_eq!(engine.manifest().format, version);
    let t1 = engine
        .get_trace(tid(1), None)
        .await
        .expect("get")
        .expect("trace 1");
    assert_eq!(spans_of(&t1), 3, "two spans in the block, one in the WAL");
    let t3 = engine
        .get_trace(tid(3), None)
        .await
        .expect("get")
        .expect("trace 3");
    assert_eq!(
        t3.resource_spans,
        rich_span(),
        "exact round trip through the v1 block"
    );
    let all = ScanRequest {
        limit: 10,
        ..ScanRequest::default()
    };
    let ids = engine.scan_ids(&all).await.expect("search");
    assert_eq!(ids, vec![tid(4), tid(3), tid(2), tid(1)]);
    let q = ScanRequest {
        service: Some("checkout".into()),
        predicates: vec![
            SpanPredicate::text_anywhere("ratio", "0.25"),
            SpanPredicate::text_anywhere("tags", "[\"a\",\"b\"]"),
        ],
        ..ScanRequest::default()
    };
    assert_eq!(engine.scan_ids(&q).await.expect("search"), vec![tid(3)]);
    for (k, v) in [
        ("http.response.status_code", "201"),
        ("http.request.method", "POST"),
        ("retry", "true"),
        ("exception.type", "Timeout"),
    ] {
        let q = ScanRequest {
            predicates: vec![SpanPredicate::text_anywhere(k, v)],
            ..ScanRequest::default()
        };
        assert_eq!(
            engine.scan_ids(&q).await.expect("search"),
            vec![tid(3)],
            "{k}={v}"
        );
    }
    let q = ScanRequest {
        predicates: vec![SpanPredicate::text_anywhere(
            "http.response.status_code",
            "200",
        )],
        ..ScanRequest::default()
    };
    assert!(engine.scan_ids(&q).await.expect("search").is_empty());
    assert_eq!(
        engine.get_services().await.expect("services"),
        vec!["cart", "checkout", "frontend", "redis"]
    );
}
