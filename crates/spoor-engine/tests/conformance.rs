//! The storage conformance suite against the engine on every storage location: before and
//! after the head is cut into blocks, and after a restart.

mod support;

use spoor_engine::{Engine, EngineConfig};
use spoor_storage::conformance::Fixtures;
use spoor_telemetry::Telemetry;

async fn run_suite(name: &str, mut config: EngineConfig) {
    let Some(fixtures) = Fixtures::load().expect("fixtures parse") else {
        eprintln!(
            "skipping {name}: shared/conformance/jaeger/storage not found beside the project"
        );
        return;
    };
    config.background = false;
    let engine = Engine::open(config.clone(), &Telemetry::new())
        .await
        .expect("open");
    let failures = fixtures.run(&engine).await.expect("run");
    assert!(failures.is_empty(), "{name}, head: {failures:#?}");

    engine.flush().await.expect("flush");
    assert!(!engine.manifest().blocks.is_empty());
    let failures = fixtures.check_queries(&engine).await.expect("queries");
    assert!(failures.is_empty(), "{name}, blocks: {failures:#?}");
    let failures = fixtures.check_get_trace(&engine).await.expect("get_trace");
    assert!(failures.is_empty(), "{name}, blocks by id: {failures:#?}");
    engine.shutdown().await.expect("shutdown");
    drop(engine);

    // memory:// does not survive a restart; the others must.
    if config.storage_url.as_deref() == Some("memory://") {
        return;
    }
    let engine = Engine::open(config, &Telemetry::new())
        .await
        .expect("reopen");
    let failures = fixtures.check_queries(&engine).await.expect("queries");
    assert!(failures.is_empty(), "{name}, reopened: {failures:#?}");
    let failures = fixtures.check_get_trace(&engine).await.expect("get_trace");
    assert!(failures.is_empty(), "{name}, reopened by id: {failures:#?}");
    engine.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn conformance_local_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    run_suite("local disk", support::config(dir.path())).await;
}

#[tokio::test]
async fn conformance_object_store_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.storage_url = Some("memory://".to_string());
    run_suite("memory://", config).await;
}

#[tokio::test]
async fn conformance_local_fs_via_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("objects");
    std::fs::create_dir_all(&store).expect("mkdir");
    let mut config = support::config(&dir.path().join("data"));
    config.storage_url = Some(format!("file://{}", store.display()));
    run_suite("file://", config).await;
}

#[tokio::test]
async fn conformance_s3_moto() {
    let Some((url, options)) = support::s3_config("conformance").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.storage_url = Some(url);
    config.storage_options = options;
    run_suite("s3 (moto)", config).await;
}
