use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spoor_api::{Readiness, RunningServer};
use spoor_engine::{Engine, EngineConfig, FsyncPolicy};
use spoor_query::QueryService;
use spoor_receivers::{
    JaegerGrpcConfig, JaegerThriftBinaryConfig, JaegerThriftCompactConfig, JaegerThriftHttpConfig,
    OtlpGrpcConfig, OtlpHttpConfig, ReceiverConfig, ReceiverContext, RunningReceiver, ZipkinConfig,
};
use spoor_storage::{MemoryStore, SpanReader, SpanWriter};
use spoor_telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use crate::cli::{RunArgs, StorageKind, WalFsync};
use crate::sink::StoreSink;

/// How long shutdown waits for listeners to drain before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The receivers the flags ask for, in start order.
fn receiver_configs(args: &RunArgs) -> Vec<ReceiverConfig> {
    let mut out = Vec::new();
    if let Some(endpoint) = args.otlp_grpc.addr() {
        out.push(ReceiverConfig::OtlpGrpc(OtlpGrpcConfig {
            endpoint,
            max_recv_msg_size: args.max_request_bytes,
        }));
    }
    if let Some(endpoint) = args.otlp_http.addr() {
        out.push(ReceiverConfig::OtlpHttp(OtlpHttpConfig {
            endpoint,
            max_request_body_size: args.max_request_bytes,
        }));
    }
    if let Some(endpoint) = args.jaeger_thrift_compact.addr() {
        out.push(ReceiverConfig::JaegerThriftCompact(
            JaegerThriftCompactConfig {
                endpoint,
                ..Default::default()
            },
        ));
    }
    if let Some(endpoint) = args.jaeger_thrift_binary.addr() {
        out.push(ReceiverConfig::JaegerThriftBinary(
            JaegerThriftBinaryConfig {
                endpoint,
                ..Default::default()
            },
        ));
    }
    if let Some(endpoint) = args.jaeger_thrift_http.addr() {
        out.push(ReceiverConfig::JaegerThriftHttp(JaegerThriftHttpConfig {
            endpoint,
            max_request_body_size: args.max_request_bytes,
        }));
    }
    if let Some(endpoint) = args.jaeger_grpc.addr() {
        out.push(ReceiverConfig::JaegerGrpc(JaegerGrpcConfig {
            endpoint,
            max_recv_msg_size: args.max_request_bytes,
        }));
    }
    if let Some(endpoint) = args.zipkin.addr() {
        out.push(ReceiverConfig::Zipkin(ZipkinConfig {
            endpoint,
            max_request_body_size: args.max_request_bytes,
        }));
    }
    out
}

/// Runs all-in-one until SIGINT or SIGTERM, then drains and returns.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let readiness = Readiness::default();

    let mut engine: Option<Arc<Engine>> = None;
    let (writer, reader): (Arc<dyn SpanWriter>, Arc<dyn SpanReader>) = match args.storage {
        StorageKind::Memory => {
            let store = Arc::new(MemoryStore::new(args.memory_max_traces));
            store.register_metrics(&telemetry);
            tracing::info!(max_traces = args.memory_max_traces, "storage: memory");
            (store.clone(), store)
        }
        StorageKind::Disk => {
            let config = engine_config(&args);
            let opened = Engine::open(config, &telemetry)
                .await
                .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
            let opened = Arc::new(opened);
            tracing::info!(
                data_dir = %args.data_dir.display(),
                storage_url = args.storage_url.as_deref().unwrap_or("(data dir)"),
                retention = ?args.retention,
                "storage: disk"
            );
            engine = Some(opened.clone());
            (opened.clone(), opened)
        }
    };
    let query = QueryService::new(reader);

    let mut servers: Vec<RunningServer> = Vec::new();
    if let Some(addr) = args.query_http.addr() {
        let router = spoor_api::query_router(query.clone());
        servers.push(spoor_api::serve_http("query-http", addr, router, shutdown.clone()).await?);
    }
    if let Some(addr) = args.query_grpc.addr() {
        let routes = spoor_api::query_grpc_routes(query.clone());
        servers.push(spoor_api::serve_grpc("query-grpc", addr, routes, shutdown.clone()).await?);
    }
    if let Some(addr) = args.admin_http.addr() {
        let router = spoor_api::admin_router(telemetry.clone(), readiness.clone());
        servers.push(spoor_api::serve_http("admin-http", addr, router, shutdown.clone()).await?);
    }
    if let Some(addr) = args.health_http.addr() {
        let router = spoor_api::health_router(readiness.clone());
        servers.push(spoor_api::serve_http("health-http", addr, router, shutdown.clone()).await?);
    }

    let ctx = ReceiverContext {
        sink: Arc::new(StoreSink::new(writer, args.max_in_flight_spans, &telemetry)),
        telemetry: telemetry.clone(),
        shutdown: shutdown.clone(),
    };
    let mut receivers: Vec<RunningReceiver> = Vec::new();
    for config in receiver_configs(&args) {
        let running = config
            .build(ctx.clone())
            .await
            .with_context(|| format!("starting receiver {}", config.name()))?;
        receivers.push(running);
    }

    for s in &servers {
        tracing::info!(listener = %s.name, addr = %s.local_addr, "listening");
    }
    for r in &receivers {
        tracing::info!(listener = %r.name, addr = %r.local_addr, "listening");
    }
    readiness.set_ready(true);
    tracing::info!("spoor is ready");

    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections, draining");
    readiness.set_ready(false);
    shutdown.cancel();
    let drain = async {
        for r in receivers {
            r.join().await;
        }
        for s in servers {
            s.join().await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "listeners did not drain in time");
    }
    if let Some(engine) = engine {
        engine.shutdown().await.context("closing the store")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The engine settings the flags ask for.
pub fn engine_config(args: &RunArgs) -> EngineConfig {
    EngineConfig {
        data_dir: args.data_dir.clone(),
        storage_url: args.storage_url.clone(),
        storage_options: args.storage_options.clone(),
        orphan_grace: args.orphan_grace,
        wal_fsync: match args.wal_fsync {
            WalFsync::Always => FsyncPolicy::Always,
            WalFsync::Interval => FsyncPolicy::Interval(args.wal_fsync_interval),
            WalFsync::Never => FsyncPolicy::Never,
        },
        retention: args.retention,
        block_cut_interval: args.block_cut_interval,
        ..EngineConfig::default()
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = int.recv() => tracing::info!("received SIGINT"),
    }
    Ok(())
}
