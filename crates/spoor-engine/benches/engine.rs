//! Hot paths on the standard workload (`spoor-loadgen`, seed 42):
//! - `ingest`: OTLP requests of ~1000 spans → WAL (group commit, default fsync policy) + head;
//! - `block_write`: cutting a 25k-span head into a Parquet block (OTLP → columns → zstd);
//! - `trace_by_id` and `search` over 200k spans in blocks on local disk.
//!
//! `cargo bench -p spoor-engine --bench engine`

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spoor_engine::{Engine, EngineConfig, ManualClock};
use spoor_loadgen::{DEFAULT_ORIGIN_UNIX_NANOS, Workload};
use spoor_model::{ResourceSpans, TraceId};
use spoor_storage::{ScanRequest, SpanPredicate, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        background: false,
        clock: std::sync::Arc::new(ManualClock::new(DEFAULT_ORIGIN_UNIX_NANOS)),
        block_cut_bytes: u64::MAX / 8,
        ..EngineConfig::default()
    }
}

fn requests(spans: usize) -> (Vec<Vec<ResourceSpans>>, Vec<TraceId>, usize) {
    let mut w = Workload::new(42);
    let (mut out, mut ids, mut n) = (Vec::new(), Vec::new(), 0);
    while n < spans {
        let (req, count, trace_ids) = w.next_batch(1000);
        n += count;
        ids.extend(trace_ids.into_iter().map(TraceId));
        out.push(req.resource_spans);
    }
    (out, ids, n)
}

fn ingest(c: &mut Criterion) {
    let rt = runtime();
    let (reqs, _, n) = requests(25_000);
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("wal_and_head_25k_spans_4_writers", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| {
                rt.block_on(async {
                    let engine = std::sync::Arc::new(
                        Engine::open(config(dir.path()), &Telemetry::new())
                            .await
                            .expect("open"),
                    );
                    let mut tasks = Vec::new();
                    for k in 0..4 {
                        let engine = engine.clone();
                        let mine: Vec<_> = reqs.iter().skip(k).step_by(4).cloned().collect();
                        tasks.push(tokio::spawn(async move {
                            for r in mine {
                                engine.write(r).await.expect("write");
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.expect("join");
                    }
                });
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("block_write_25k_spans", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let engine = rt.block_on(async {
                    let e = Engine::open(config(dir.path()), &Telemetry::new())
                        .await
                        .expect("open");
                    for r in &reqs {
                        e.write(r.clone()).await.expect("write");
                    }
                    e
                });
                (dir, engine)
            },
            |(dir, engine)| {
                rt.block_on(engine.flush()).expect("flush");
                (dir, engine)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (reqs, ids, n) = requests(200_000);
    let engine = rt.block_on(async {
        let e = Engine::open(config(dir.path()), &Telemetry::new())
            .await
            .expect("open");
        for (i, r) in reqs.iter().enumerate() {
            e.write(r.clone()).await.expect("write");
            if i % 25 == 24 {
                e.flush().await.expect("flush");
            }
        }
        e.flush().await.expect("flush");
        e
    });
    let blocks = engine.manifest().blocks.len();
    eprintln!("{n} spans in {blocks} blocks");
    let mut g = c.benchmark_group("read");
    g.measurement_time(Duration::from_secs(5));
    let mut k = 0usize;
    g.bench_function(format!("trace_by_id_{n}_spans_{blocks}_blocks"), |b| {
        b.iter(|| {
            k = (k + 7919) % ids.len();
            let t = rt.block_on(engine.get_trace(ids[k], None)).expect("get");
            assert!(t.is_some());
        })
    });
    let q = ScanRequest {
        service: Some("checkout".into()),
        predicates: vec![SpanPredicate::text_anywhere("app.tier", "enterprise")],
        limit: 20,
        ..ScanRequest::default()
    };
    g.bench_function("search_service_and_attribute_limit_20", |b| {
        b.iter(|| rt.block_on(engine.scan_ids(&q)).expect("search"))
    });
    let q = ScanRequest {
        service: Some("checkout".into()),
        duration_min: Some(50_000_000),
        limit: 20,
        ..ScanRequest::default()
    };
    g.bench_function("search_service_and_min_duration_limit_20", |b| {
        b.iter(|| rt.block_on(engine.scan_ids(&q)).expect("search"))
    });
    g.finish();
}

criterion_group!(benches, ingest, reads);
criterion_main!(benches);
