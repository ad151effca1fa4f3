//! `run` against an in-process receive-and-drop server.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use spoor_loadgen::{LoadgenArgs, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_every_span_and_logs_acks_replayed() -> Result<(), Box<dyn std::error::Error>> {
    // 3 pooled requests replayed ~13 times: every replay must carry new trace ids.
    sends_every_span_and_logs_acks(3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_every_span_and_logs_acks_fresh() -> Result<(), Box<dyn std::error::Error>> {
    sends_every_span_and_logs_acks(0).await
}

async fn sends_every_span_and_logs_acks(pool: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (addr, counts) = common::start().await?;
    let dir = tempfile::tempdir()?;
    let ack_log = dir.path().join("acks.txt");
    let args = LoadgenArgs {
        otlp_grpc: addr.to_string(),
        spans: Some(20_000),
        batch_spans: 500,
        concurrency: 4,
        ack_log: Some(ack_log.clone()),
        pool,
        ..LoadgenArgs::default()
    };
    let summary = run(args).await?;
    assert!(summary.spans_sent >= 20_000, "{summary:?}");
    assert_eq!(summary.spans_acked, summary.spans_sent);
    assert_eq!(summary.requests_failed, 0);
    assert_eq!(counts.spans.load(Ordering::Relaxed), summary.spans_sent);
    let logged = std::fs::read_to_string(&ack_log)?;
    let ids: std::collections::HashSet<&str> = logged.lines().collect();
    assert_eq!(ids.len() as u64, summary.traces_acked);
    assert!(ids.iter().all(|id| id.len() == 32));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respects_rate_and_duration() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, _) = common::start().await?;
    let args = LoadgenArgs {
        otlp_grpc: addr.to_string(),
        rate: Some(20_000),
        duration: Some(Duration::from_secs(2)),
        batch_spans: 500,
        ..LoadgenArgs::default()
    };
    let summary = run(args).await?;
    assert!(summary.elapsed_s < 3.5, "{summary:?}");
    // 40k spans in 2 s, give or take a batch and scheduling noise.
    assert!(
        (25_000..=50_000).contains(&summary.spans_acked),
        "{summary:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_when_the_server_asks_for_back_off() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, counts) = common::start_refusing(5).await?;
    let args = LoadgenArgs {
        otlp_grpc: addr.to_string(),
        spans: Some(5_000),
        batch_spans: 500,
        concurrency: 2,
        retries: 5,
        ..LoadgenArgs::default()
    };
    let summary = run(args).await?;
    assert_eq!(summary.requests_failed, 0, "{summary:?}");
    assert_eq!(summary.requests_retried, 5);
    assert_eq!(summary.spans_acked, summary.spans_sent);
    assert_eq!(counts.spans.load(Ordering::Relaxed), summary.spans_sent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_refusals_without_retries() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, _) = common::start_refusing(3).await?;
    let args = LoadgenArgs {
        otlp_grpc: addr.to_string(),
        spans: Some(5_000),
        batch_spans: 500,
        concurrency: 1,
        ..LoadgenArgs::default()
    };
    let summary = run(args).await?;
    assert_eq!(summary.requests_failed, 3, "{summary:?}");
    assert_eq!(summary.errors.get("ResourceExhausted"), Some(&3));
    assert!(summary.spans_acked < summary.spans_sent);
    Ok(())
}

#[tokio::test]
async fn refuses_an_unreachable_endpoint() {
    let args = LoadgenArgs {
        otlp_grpc: "127.0.0.1:1".into(),
        spans: Some(10),
        ..LoadgenArgs::default()
    };
    assert!(run(args).await.is_err());
}
