use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::listen::Listen;

/// Spoor: a distributed-tracing backend in one binary.
///
/// With no arguments it runs all-in-one: every receiver on its familiar port, the Jaeger-compatible
/// query API and web UI on 16686, an embedded store. Every flag can also be set from the
/// environment variable shown; a listener set to `off` is not started; port 0 picks a free port
/// (the bound address is logged as `listening listener=<name> addr=<ip:port>`).
#[derive(Debug, Parser)]
#[command(name = "spoor", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Run(RunArgs),
}

/// Which store keeps the spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// Bounded, in memory, lost on restart.
    Memory,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// OTLP gRPC receiver (opentelemetry.proto.collector.trace.v1.TraceService).
    #[arg(
        long,
        env = "SPOOR_OTLP_GRPC",
        default_value = "0.0.0.0:4317",
        value_name = "ADDR|off"
    )]
    pub otlp_grpc: Listen,

    /// OTLP HTTP receiver (POST /v1/traces, protobuf or JSON).
    #[arg(
        long,
        env = "SPOOR_OTLP_HTTP",
        default_value = "0.0.0.0:4318",
        value_name = "ADDR|off"
    )]
    pub otlp_http: Listen,

    /// Query HTTP server: Jaeger JSON API, api_v3 over HTTP, web UI.
    #[arg(
        long,
        env = "SPOOR_QUERY_HTTP",
        default_value = "0.0.0.0:16686",
        value_name = "ADDR|off"
    )]
    pub query_http: Listen,

    /// Query gRPC server: Jaeger api_v2 and api_v3 QueryService.
    #[arg(
        long,
        env = "SPOOR_QUERY_GRPC",
        default_value = "0.0.0.0:16685",
        value_name = "ADDR|off"
    )]
    pub query_grpc: Listen,

    /// Admin server: /metrics (Prometheus) and /health.
    #[arg(
        long,
        env = "SPOOR_ADMIN_HTTP",
        default_value = "0.0.0.0:14269",
        value_name = "ADDR|off"
    )]
    pub admin_http: Listen,

    /// Health check server as the Collector's health_check extension: GET / → 200 JSON.
    #[arg(
        long,
        env = "SPOOR_HEALTH_HTTP",
        default_value = "0.0.0.0:13133",
        value_name = "ADDR|off"
    )]
    pub health_http: Listen,

    /// Storage backend.
    #[arg(long, env = "SPOOR_STORAGE", value_enum, default_value = "memory")]
    pub storage: StorageKind,

    /// Directory of the embedded store (disk backend).
    #[arg(long, env = "SPOOR_DATA_DIR", default_value = "./spoor-data")]
    pub data_dir: PathBuf,

    /// Memory backend: most traces kept; the oldest is evicted beyond it.
    #[arg(long, env = "SPOOR_MEMORY_MAX_TRACES", default_value_t = 100_000)]
    pub memory_max_traces: usize,

    /// Largest request body accepted by receivers, in bytes, after decompression.
    #[arg(long, env = "SPOOR_MAX_REQUEST_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_request_bytes: usize,

    /// Most spans handed to the store and not yet stored; beyond it receivers answer
    /// 429 / RESOURCE_EXHAUSTED so clients back off and retry.
    #[arg(long, env = "SPOOR_MAX_IN_FLIGHT_SPANS", default_value_t = 200_000)]
    pub max_in_flight_spans: usize,

    /// Log filter (tracing-subscriber syntax, e.g. `info` or `spoor=debug`); RUST_LOG overrides.
    #[arg(long, env = "SPOOR_LOG", default_value = "info")]
    pub log: String,
}
