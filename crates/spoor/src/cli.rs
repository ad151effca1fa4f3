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
    /// Check --config files (in the OpenTelemetry Collector's format) and report every error and
    /// warning with its YAML path and line; exit 1 on error.
    Validate(Box<RunArgs>),
    /// Print the effective configuration (YAML) after defaults, files and flags.
    PrintConfig(Box<RunArgs>),
    /// Storage tools.
    #[command(subcommand)]
    Tool(ToolCommand),
    /// Send the standard workload over OTLP gRPC; prints a JSON summary of what was acknowledged.
    Loadgen(spoor_loadgen::LoadgenArgs),
    /// Run the benchmark suite against this binary and a receive-and-drop baseline.
    Bench(spoor_bench::BenchArgs),
    /// Run a TraceQL or SQL-form query against a server's Tempo API or a data directory.
    Query(crate::query::QueryArgs),
}

#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Print a block's schema, row groups and bytes per column.
    Inspect {
        /// Path of a block (`.parquet`) file, or of a data directory: then the per-column
        /// bytes per span summed over all its blocks.
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
    /// Delete stored spans: those that started before --before, of --service, or both (spans
    /// matching every condition given). Blocks are written again without them or dropped; the
    /// WAL is cut into a block first. Run it while no spoor process writes the store (a running
    /// server deletes through `POST /api/admin/delete` on its admin port instead).
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// An RFC 3339 time (2026-11-30T00:00:00Z) or an age (72h: older than 72 hours).
        #[arg(long)]
        before: Option<String>,
        /// A service name.
        #[arg(long)]
        service: Option<String>,
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
    /// One tenant's store (written with --tenancy-enabled): DATA_DIR/tenants/<tenant>/.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The keys of an encrypted store (see `spoor run --help`).
    #[command(flatten)]
    pub encryption: crate::encryption::EncryptionArgs,
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

/// A scale-out role (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Ingest,
    Query,
    Compact,
}

impl RunArgs {
    /// What the --role list asks of the engine, with --read-only set for the roles that
    /// receive no spans (`query`, `compact`). `all`, or all three roles, is one process doing
    /// everything; `ingest` and `compact` together are refused (use `all`).
    pub fn resolve_roles(&mut self) -> anyhow::Result<spoor_engine::ClusterRole> {
        use spoor_engine::ClusterRole;
        let has = |r: Role| self.role.contains(&r);
        let everything = has(Role::Ingest) && has(Role::Query) && has(Role::Compact);
        if self.role.is_empty() || has(Role::All) || everything {
            return Ok(ClusterRole::Single);
        }
        if has(Role::Ingest) && has(Role::Compact) {
            anyhow::bail!(
                "--role ingest,compact: an ingest node does not compact the shared store; use \
                 --role all for one process, or separate ingest and compact processes"
            );
        }
        if has(Role::Ingest) {
            return Ok(ClusterRole::Ingest);
        }
        self.read_only = true;
        Ok(if has(Role::Compact) {
            ClusterRole::Compact
        } else {
            ClusterRole::Single
        })
    }

    /// --node-id, or the host name made path-safe.
    pub fn node_id(&self) -> String {
        if let Some(id) = &self.node_id {
            return id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .unwrap_or_default();
        let id: String = host
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if id.is_empty() { "spoor".into() } else { id }
    }
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

/// `--memory-limit`: a size, `auto` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// 80% of the memory available to the process (cgroup limit or physical memory).
    Auto,
    Off,
    Bytes(u64),
}

impl MemoryLimit {
    /// The limit in bytes, if any.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryLimit::Off => None,
            MemoryLimit::Bytes(b) => Some(b),
            MemoryLimit::Auto => spoor_telemetry::available_memory().map(|m| m / 5 * 4),
        }
    }
}

/// Parses `auto`, `off`, or a size: a number with an optional unit (`B`, `KB`, `MB`, `GB`,
/// `KiB`, `MiB`, `GiB`; also `K`, `M`, `G` as binary units).
pub fn parse_memory_limit(s: &str) -> Result<MemoryLimit, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(MemoryLimit::Auto);
    }
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit::Off);
    }
    parse_bytes(t).map(MemoryLimit::Bytes)
}

/// Parses a byte size such as `512MiB`, `2GB` or `1048576`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. 512MiB, 2GB or a byte count"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => return Err(format!("invalid size {s:?}: unknown unit {other:?}")),
    };
    let bytes = number * multiplier as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("invalid size {s:?}: must be at least one byte"));
    }
    Ok(bytes as u64)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Collector-style YAML config (receivers, processors, exporters, connectors, extensions,
    /// service.pipelines). Repeatable: later files merge over earlier ones. Without it, the
    /// listener flags describe the config (every receiver → the embedded store); with it, a
    /// listener flag given explicitly overrides the endpoint of the receiver it names.
    #[arg(long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,

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

    /// Jaeger remote sampling over HTTP (GET /sampling?service=NAME and the agent's /?service=).
    /// The same strategies are served over gRPC (SamplingManager) on --jaeger-grpc.
    #[arg(
        long,
        env = "SPOOR_SAMPLING_HTTP",
        default_value = "0.0.0.0:5778",
        value_name = "ADDR|off"
    )]
    pub sampling_http: Listen,

    /// Jaeger sampling strategies file (sampling.json: default_strategy, service_strategies with
    /// probabilistic / ratelimiting and operation_strategies). Without it every service is told
    /// --sampling-default-probability.
    #[arg(long, env = "SPOOR_SAMPLING_STRATEGIES", value_name = "FILE")]
    pub sampling_strategies: Option<std::path::PathBuf>,

    /// How often the strategies file is read again (0s: never); a bad new file keeps the old
    /// strategies and is logged.
    #[arg(long, env = "SPOOR_SAMPLING_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub sampling_reload_interval: std::time::Duration,

    /// The probability served to services the strategies do not name (Jaeger's default).
    #[arg(
        long,
        env = "SPOOR_SAMPLING_DEFAULT_PROBABILITY",
        default_value_t = 0.001
    )]
    pub sampling_default_probability: f64,

    /// Adaptive sampling for every service the strategies file does not name (the file's
    /// `type: adaptive` entries adapt without it): `on`, or options as key=value,… with Jaeger's
    /// names: target_samples_per_second (1), delta_tolerance (0.3), calculation_interval (1m),
    /// aggregation_buckets (10), buckets_for_calculation (1), initial_sampling_probability
    /// (0.001), min_sampling_probability (1e-5), min_samples_per_second (1/60).
    #[arg(long, env = "SPOOR_SAMPLING_ADAPTIVE", value_name = "on|KEY=VALUE,…")]
    pub sampling_adaptive: Option<spoor_receivers::sampling::AdaptiveConfig>,

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

    /// Tempo's HTTP query API (trace by id, TraceQL search, tags) for Grafana's Tempo data source.
    #[arg(
        long,
        env = "SPOOR_TEMPO_HTTP",
        default_value = "0.0.0.0:3200",
        value_name = "ADDR|off"
    )]
    pub tempo_http: Listen,

    /// Web origins allowed to read the query API from a browser (CORS), comma-separated:
    /// exact origins (https://grafana.example.com), one-level wildcards (https://*.example.com),
    /// or `*` for any. Default: none, so no other site can read traces through a user's browser.
    #[arg(
        long,
        env = "SPOOR_QUERY_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN,..."
    )]
    pub query_cors_allowed_origins: Vec<String>,

    /// Step of the RED history behind the Monitor API (`/api/metrics/*`): the span series are
    /// snapshotted this often, and it is the smallest step a query resolves.
    #[arg(long, env = "SPOOR_MONITOR_STEP", default_value = "15s", value_parser = parse_duration)]
    pub monitor_step: std::time::Duration,

    /// How far back the Monitor API's RED history goes (kept in memory).
    #[arg(long, env = "SPOOR_MONITOR_WINDOW", default_value = "1h", value_parser = parse_duration)]
    pub monitor_window: std::time::Duration,

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

    /// Encryption at rest and object-store server-side encryption.
    #[command(flatten)]
    pub encryption: crate::encryption::EncryptionArgs,

    /// Block files that no manifest names are moved to quarantine/ at start once they are
    /// this old (younger ones may be blocks another process is about to commit).
    #[arg(long, env = "SPOOR_ORPHAN_GRACE", default_value = "1h", value_parser = parse_duration)]
    pub orphan_grace: std::time::Duration,

    /// Serve queries from a store another spoor process writes (the same --data-dir or
    /// --storage-url): no receivers, no WAL, no LOCK, no compaction or retention; nothing in
    /// the store is changed. New blocks are found by reloading the manifest every
    /// --manifest-poll-interval.
    #[arg(long, env = "SPOOR_READ_ONLY")]
    pub read_only: bool,

    /// With --read-only: how often to look for blocks the writer committed.
    #[arg(long, env = "SPOOR_MANIFEST_POLL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub manifest_poll_interval: std::time::Duration,

    /// Scale-out role(s), comma-separated: `all` (one process does everything), `ingest`
    /// (receivers, WAL, blocks cut into the shared store under this node's own manifest log;
    /// no compaction or retention), `query` (what --read-only does, over every node's log),
    /// `compact` (compaction and retention over the shared store while holding its lease).
    /// `ingest,query` serves queries of this node's own blocks; see docs/scale-out.md.
    #[arg(
        long,
        env = "SPOOR_ROLE",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    pub role: Vec<Role>,

    /// This node's name in the shared store (its manifest log, the compactor lease's holder);
    /// letters, digits, '.', '_' and '-'. Default: the host name.
    #[arg(long, env = "SPOOR_NODE_ID")]
    pub node_id: Option<String>,

    /// With --role compact: the compactor lease's time to live; another compactor takes over
    /// this long after the holder stops renewing.
    #[arg(long, env = "SPOOR_LEASE_TTL", default_value = "15s", value_parser = parse_duration)]
    pub lease_ttl: std::time::Duration,

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
    /// 429 / RESOURCE_EXHAUSTED so clients back off and retry. It is also the most spans one
    /// request may carry: a larger OTLP request is refused (413) before it is decoded.
    #[arg(long, env = "SPOOR_MAX_IN_FLIGHT_SPANS", default_value_t = 200_000)]
    pub max_in_flight_spans: usize,

    /// Memory limit for the whole process, measured from its resident set size: above it every
    /// receiver refuses new requests (429 / RESOURCE_EXHAUSTED, retry hint) until memory drops.
    /// `auto`: 80% of the memory available (cgroup limit or RAM); `off`; or a size (512MiB, 2GB).
    #[arg(long, env = "SPOOR_MEMORY_LIMIT", default_value = "auto", value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,

    /// Origins allowed to post to the OTLP HTTP receiver from a browser (comma-separated, `*`
    /// for any). Default: none (no CORS headers).
    #[arg(
        long,
        env = "SPOOR_OTLP_HTTP_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub otlp_http_cors_allowed_origins: Vec<String>,

    /// Origins allowed to post to the Zipkin receiver from a browser (comma-separated, `*` for
    /// any). Default: none (no CORS headers).
    #[arg(
        long,
        env = "SPOOR_ZIPKIN_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub zipkin_cors_allowed_origins: Vec<String>,

    /// Most open connections per receiver listener; more are closed as soon as accepted.
    #[arg(long, env = "SPOOR_RECEIVER_MAX_CONNECTIONS", default_value_t = 4096)]
    pub receiver_max_connections: usize,

    /// Time a receiver connection has to send its first byte, and an HTTP/1 client its request
    /// headers (idle keep-alive connections are closed after it too).
    #[arg(long, env = "SPOOR_RECEIVER_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub receiver_header_timeout: std::time::Duration,

    /// Time a receiver client has to send a whole request body (HTTP: then 408) or request (gRPC).
    #[arg(long, env = "SPOOR_RECEIVER_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub receiver_body_timeout: std::time::Duration,

    /// A receiver connection on which nothing arrives for this long is closed.
    #[arg(long, env = "SPOOR_RECEIVER_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub receiver_idle_timeout: std::time::Duration,

    /// PEM certificate chain: every TCP listener (receivers, query, admin, health, sampling)
    /// serves TLS with it; a receiver's own `tls:` in the config file wins. See docs/security.md.
    #[arg(long, env = "SPOOR_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<String>,

    /// PEM private key of `--tls-cert-file`.
    #[arg(long, env = "SPOOR_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<String>,

    /// PEM CAs of client certificates: with it, every TLS listener requires one (mutual TLS).
    #[arg(long, env = "SPOOR_TLS_CLIENT_CA_FILE", requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<String>,

    /// Oldest TLS version accepted: 1.2 or 1.3.
    #[arg(long, env = "SPOOR_TLS_MIN_VERSION", default_value = "1.2")]
    pub tls_min_version: String,

    /// How often the TLS files are checked for changes (a renewed certificate is then served
    /// without restart); 0s: never.
    #[arg(long, env = "SPOOR_TLS_RELOAD_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub tls_reload_interval: std::time::Duration,

    /// Authenticator extension (`basicauth/ui`, `bearertokenauth`, enabled in the config
    /// file's `service.extensions`) every request to the query HTTP (API and UI) and gRPC ports
    /// must pass.
    #[arg(long, env = "SPOOR_QUERY_AUTH", value_name = "EXTENSION")]
    pub query_auth: Option<String>,

    /// Authenticator extension for the admin port (`/metrics`, delete); the health port stays
    /// open.
    #[arg(long, env = "SPOOR_ADMIN_AUTH", value_name = "EXTENSION")]
    pub admin_auth: Option<String>,

    /// Tenants: every request names its tenant (header or authenticated identity), each
    /// tenant's spans are stored apart (DATA_DIR/tenants/<tenant>/) and every query API answers
    /// from the request's tenant only.
    #[arg(long, env = "SPOOR_TENANCY_ENABLED")]
    pub tenancy_enabled: bool,

    /// The header naming the tenant (Jaeger's is `x-tenant`).
    #[arg(long, env = "SPOOR_TENANCY_HEADER", default_value = "x-scope-orgid")]
    pub tenancy_header: String,

    /// Allowed tenants (comma-separated); others are refused with 403. Empty: any.
    #[arg(long, env = "SPOOR_TENANTS", value_delimiter = ',')]
    pub tenants: Vec<String>,

    /// Spans per second each tenant may send; beyond, 429 / RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "SPOOR_TENANT_INGEST_RATE",
        value_name = "SPANS_PER_SECOND"
    )]
    pub tenant_ingest_rate: Option<f64>,

    /// Bytes each tenant's store may hold (e.g. `10GiB`). A disk store counts its blocks and
    /// WAL, and beyond the limit its writes get 429 / RESOURCE_EXHAUSTED until retention frees
    /// room; a memory store counts its spans' encoded size and evicts its oldest traces.
    #[arg(long, env = "SPOOR_TENANT_MAX_BYTES", value_name = "SIZE", value_parser = parse_bytes)]
    pub tenant_max_bytes: Option<u64>,

    /// Most tenant stores open at once; a new tenant beyond it is refused.
    #[arg(long, env = "SPOOR_TENANCY_MAX_TENANTS", default_value_t = 100)]
    pub tenancy_max_tenants: usize,

    /// Log filter (tracing-subscriber syntax, e.g. `info` or `spoor=debug`); RUST_LOG overrides.
    #[arg(long, env = "SPOOR_LOG", default_value = "info")]
    pub log: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_limits() {
        assert_eq!(
            parse_memory_limit("512MiB"),
            Ok(MemoryLimit::Bytes(512 << 20))
        );
        assert_eq!(
            parse_memory_limit("2GB"),
            Ok(MemoryLimit::Bytes(2_000_000_000))
        );
        assert_eq!(parse_memory_limit("1.5G"), Ok(MemoryLimit::Bytes(3 << 29)));
        assert_eq!(parse_memory_limit("4096"), Ok(MemoryLimit::Bytes(4096)));
        assert_eq!(parse_memory_limit("off"), Ok(MemoryLimit::Off));
        assert_eq!(parse_memory_limit("auto"), Ok(MemoryLimit::Auto));
        assert!(parse_memory_limit("12 parsecs").is_err());
        assert!(parse_memory_limit("0").is_err());
        assert!(parse_memory_limit("MiB").is_err());
        assert!(MemoryLimit::Auto.bytes().expect("linux") > 0);
    }

    #[test]
    fn cors_origins_are_a_comma_list_and_none_by_default() {
        let cli = Cli::try_parse_from(["spoor"]).expect("defaults");
        assert!(cli.run.otlp_http_cors_allowed_origins.is_empty());
        let cli = Cli::try_parse_from([
            "spoor",
            "--otlp-http-cors-allowed-origins",
            "http://a.example,http://b.example",
        ])
        .expect("parses");
        assert_eq!(
            cli.run.otlp_http_cors_allowed_origins,
            ["http://a.example", "http://b.example"]
        );
    }
}
