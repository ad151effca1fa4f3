//! Shared test helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spoor_engine::{EngineConfig, FsyncPolicy, ManualClock};

pub mod workload;

/// A config for tests: no background task, small cuts.
pub fn config(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        wal_fsync: FsyncPolicy::Never,
        background: false,
        ..EngineConfig::default()
    }
}

/// A config with a manual clock starting at `now`.
pub fn config_with_clock(dir: &Path, now: u64) -> (EngineConfig, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let mut c = config(dir);
    c.clock = clock.clone();
    c.block_cut_interval = Duration::from_secs(60);
    (c, clock)
}

/// An S3 location on a local moto server, with a fresh bucket: the one named by
/// `SPOOR_TEST_S3_ENDPOINT`, else one started by `scripts/start-moto.sh` when its venv
/// (`.cache/moto-venv`, installed by that script) exists. `None` (and a skip message) otherwise.
pub async fn s3_config(test: &str) -> Option<(String, Vec<(String, String)>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let endpoint = match std::env::var("SPOOR_TEST_S3_ENDPOINT") {
        Ok(e) => e,
        Err(_) if root.join(".cache/moto-venv/bin/moto_server").exists() => {
            let out = std::process::Command::new("bash")
                .arg(root.join("scripts/start-moto.sh"))
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    String::from_utf8_lossy(&o.stdout).trim().to_string()
                }
                _ => {
                    eprintln!("skipping {test} on S3: scripts/start-moto.sh failed");
                    return None;
                }
            }
        }
        Err(_) => {
            eprintln!(
                "skipping {test} on S3: no moto server (run scripts/start-moto.sh, or set SPOOR_TEST_S3_ENDPOINT)"
            );
            return None;
        }
    };
    let bucket = format!(
        "spoor-{test}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    // moto creates buckets on a plain PUT.
    let client = std::process::Command::new("curl")
        .args(["-s", "-X", "PUT", &format!("{endpoint}/{bucket}")])
        .status();
    if !client.is_ok_and(|s| s.success()) {
        eprintln!("skipping {test} on S3: could not create bucket at {endpoint}");
        return None;
    }
    let options = vec![
        ("aws_endpoint".to_string(), endpoint),
        ("aws_allow_http".to_string(), "true".to_string()),
        ("aws_access_key_id".to_string(), "test".to_string()),
        ("aws_secret_access_key".to_string(), "test".to_string()),
        ("aws_region".to_string(), "us-east-1".to_string()),
    ];
    Some((format!("s3://{bucket}/spoor"), options))
}

/// Wall-clock now, unix nanoseconds.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

use spoor_model::otlp_common::KeyValue;
use spoor_model::otlp_resource::Resource;
use spoor_model::{ResourceSpans, ScopeSpans, Span, attr};

/// A trace id from a small number.
pub fn tid(n: u64) -> spoor_model::TraceId {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&n.to_be_bytes());
    b[0] = 0xab;
    spoor_model::TraceId(b)
}

/// One span of `service` as a batch.
#[allow(clippy::too_many_arguments)]
pub fn span(
    service: &str,
    op: &str,
    trace: u64,
    span: u64,
    parent: Option<u64>,
    start: u64,
    duration: u64,
    attrs: Vec<KeyValue>,
) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![attr::string("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans: vec![Span {
                trace_id: tid(trace).0.to_vec(),
                span_id: span.to_be_bytes().to_vec(),
                parent_span_id: parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default(),
                name: op.to_string(),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration,
                attributes: attrs,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }]
}

/// Span count of a stored trace.
pub fn spans_of(t: &spoor_storage::Trace) -> usize {
    spoor_model::span_count(&t.resource_spans)
}
