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
    Run(Box<RunArgs>),
    /// Storage tools.
    #[command(subcommand)]
    Tool(ToolCommand),
    /// Send the standard workload over OTLP gRPC; prints a JSON summary of what was acknowledged.
    Loadgen(spoor_loadgen::LoadgenArgs),
    /// Run the benchmark suite against this binary and a receive-and-drop baseline.
    Bench(spoor_bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Print a block's schema, row groups and bytes per column.
    Inspect {
        /// Path of a block (`.parquet`) file.
        block: PathBuf,
    },
    /// Check checksums and that the manifest and the block files agree.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Bring a damaged store back into service, as opening it would: rebuild the block list
    /// from the block files when the newest manifest is unreadable, drop blocks whose file is
    /// missing, move old unreferenced block files to quarantine/. Deletes no block file. Run
    /// it while no spoor process uses the store.
    Repair {
        #[command(flatten)]
        store: StoreArgs,
        /// Only report what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Unreferenced block files younger than this are left in place.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        orphan_grace: std::time::Duration,
    },
}

/// Where a store is, for the tools.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Data directory.
    #[arg(long, env = "SPOOR_DATA_DIR", default_value = "./spoor-data")]
    pub data_dir: PathBuf,
    /// Object store URL, if blocks are not under the data directory.
    #[arg(long, env = "SPOOR_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// Object store option `key=value` (repeatable); see `spoor run --help`.
    #[arg(long = "storage-option", env = "SPOOR_STORAGE_OPTION", value_delimiter = ',', value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
}

/// `key=value` → `(key, value)`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Which store keeps the spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// Bounded, in memory, lost on restart.
    Memory,
    /// The durable engine: WAL + Parquet blocks in --data-dir or at --storage-url.
    Disk,
}

/// When the write-ahead log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WalFsync {
    /// Before every acknowledgement: survives power loss.
    Always,
    /// At most --wal-fsync-interval after the acknowledgement: survives kill -9, may lose the
    /// last interval on power loss.
    Interval,
    /// Never: survives kill -9 only as far as the OS flushes.
    Never,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
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

    /// Jaeger agent UDP, thrift compact (Agent.emitBatch; jaeger-client, OTel Jaeger exporters).
    #[arg(
        long,
        env = "SPOOR_JAEGER_THRIFT_COMPACT",
        default_value = "0.0.0.0:6831",
        value_name = "ADDR|off"
    )]
    pub jaeger_thrift_compact: Listen,

    /// Jaeger agent UDP, thrift binary (Agent.emitBatch; Node's Jaeger exporter).
    #[arg(
        long,
        env = "SPOOR_JAEGER_THRIFT_BINARY",
        default_value = "0.0.0.0:6832",
        value_name = "ADDR|off"
    )]
    pub jaeger_thrift_binary: Listen,

    /// Jaeger collector HTTP (POST /api/traces, application/x-thrift).
    #[arg(
        long,
        env = "SPOOR_JAEGER_THRIFT_HTTP",
        default_value = "0.0.0.0:14268",
        value_name = "ADDR|off"
    )]
    pub jaeger_thrift_http: Listen,

    /// Jaeger collector gRPC (jaeger.api_v2.CollectorService/PostSpans).
    #[arg(
        long,
        env = "SPOOR_JAEGER_GRPC",
        default_value = "0.0.0.0:14250",
        value_name = "ADDR|off"
    )]
    pub jaeger_grpc: Listen,

    /// Zipkin HTTP (POST /api/v1/spans and /api/v2/spans; JSON, protobuf, thrift).
    #[arg(
        long,
        env = "SPOOR_ZIPKIN",
        default_value = "0.0.0.0:9411",
        value_name = "ADDR|off"
    )]
    pub zipkin: Listen,

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
    #[arg(long, env = "SPOOR_STORAGE", value_enum, default_value = "disk")]
    pub storage: StorageKind,

    /// Directory of the embedded store (disk backend): WAL, and blocks unless --storage-url.
    #[arg(long, env = "SPOOR_DATA_DIR", default_value = "./spoor-data")]
    pub data_dir: PathBuf,

    /// Object store for blocks and manifests: s3://bucket/prefix, gs://…, az://…, file:///path.
    /// Credentials and settings come from the provider's environment variables first
    /// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP, …;
    /// GOOGLE_SERVICE_ACCOUNT, …; AZURE_STORAGE_ACCOUNT_NAME, …), then the URL, then
    /// --storage-option.
    #[arg(long, env = "SPOOR_STORAGE_URL")]
    pub storage_url: Option<String>,

    /// Object store option `key=value`, repeatable (env: comma-separated), e.g.
    /// `aws_endpoint=http://127.0.0.1:9000`, `aws_allow_http=true`, `aws_region=garage`,
    /// `aws_virtual_hosted_style_request=false`; keys as the object_store crate names them.
    #[arg(long = "storage-option", env = "SPOOR_STORAGE_OPTION", value_delimiter = ',', value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,

    /// Block files that no manifest names are moved to quarantine/ at start once they are
    /// this old (younger ones may be blocks another process is about to commit).
    #[arg(long, env = "SPOOR_ORPHAN_GRACE", default_value = "1h", value_parser = parse_duration)]
    pub orphan_grace: std::time::Duration,

    /// How long traces are kept; older blocks are deleted in the background.
    #[arg(long, env = "SPOOR_RETENTION", default_value = "72h", value_parser = parse_duration)]
    pub retention: std::time::Duration,

    /// WAL fsync policy.
    #[arg(long, env = "SPOOR_WAL_FSYNC", value_enum, default_value = "interval")]
    pub wal_fsync: WalFsync,

    /// WAL fsync interval for --wal-fsync interval.
    #[arg(long, env = "SPOOR_WAL_FSYNC_INTERVAL", default_value = "100ms", value_parser = parse_duration)]
    pub wal_fsync_interval: std::time::Duration,

    /// The in-memory head is cut into a Parquet block when its oldest span is this old.
    #[arg(long, env = "SPOOR_BLOCK_CUT_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub block_cut_interval: std::time::Duration,

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
