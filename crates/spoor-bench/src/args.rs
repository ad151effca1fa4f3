//! The `spoor bench` command line and its errors.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Arguments of `spoor bench`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct BenchArgs {
    /// The `spoor` binary to benchmark; defaults to the running executable (`spoor bench`).
    #[arg(long, env = "SPOOR_BENCH_SPOOR_BIN")]
    pub spoor_bin: Option<PathBuf>,
    /// How long each ingest run sends flat out: one run per peer per round.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Ingest rounds. Each round runs every peer once, one after another (baseline, Spoor,
    /// Spoor with the pipeline config, Jaeger); the report gives medians over rounds and
    /// ratios paired within a round, so a burst of load from other processes moves them less.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Also run Spoor with the default pipeline of issue 10 (the `basic` seed config: memory_limiter
    /// + batch → the store) as a peer, and report its cost against the implicit config.
    #[arg(long)]
    pub default_pipeline: bool,
    /// Also run Spoor with this collector config as a peer (instead of the built-in default
    /// pipeline of `--default-pipeline`); the bench's listener flags override its endpoints.
    #[arg(long)]
    pub pipeline_config: Option<PathBuf>,
    /// Jaeger v2 all-in-one (`github.com/jaegertracing/jaeger/cmd/jaeger`), run with Badger as a
    /// second peer; found at `.cache/peers/jaeger/jaeger` (`scripts/peers/build-jaeger.sh`) when
    /// not given. Skipped with a note when absent.
    #[arg(long, env = "SPOOR_BENCH_JAEGER_BIN")]
    pub jaeger_bin: Option<PathBuf>,
    /// Skip the Jaeger peer.
    #[arg(long)]
    pub no_jaeger: bool,
    /// Spans preloaded (freshly generated, never replayed) into the store that is then measured
    /// for bytes per span and queried. The 10 M-span version: `--spans 10000000`.
    #[arg(long, default_value_t = 2_000_000)]
    pub spans: u64,
    /// Queries timed per query kind.
    #[arg(long, default_value_t = 50)]
    pub queries: usize,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Load generator requests in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
    /// The receive-and-drop baseline binary (rotel's `rotel-agent`); found under
    /// `.cache/venvs/rotel` (see `scripts/bench-setup.sh`) when not given.
    #[arg(long, env = "SPOOR_BENCH_ROTEL_BIN")]
    pub rotel_bin: Option<PathBuf>,
    /// Skip the baseline run.
    #[arg(long)]
    pub no_baseline: bool,
    /// Skip the kill -9 / WAL recovery measurement.
    #[arg(long)]
    pub no_recovery: bool,
    /// Where the data directories go (a fresh temporary directory inside it); the system's
    /// temporary directory when not given.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep the data directories after the run.
    #[arg(long)]
    pub keep_data: bool,
    /// Extra argument for the `spoor` server (repeatable), e.g. `--spoor-arg=--wal-fsync=always`.
    #[arg(long = "spoor-arg", allow_hyphen_values = true)]
    pub spoor_args: Vec<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for BenchArgs {
    fn default() -> Self {
        Self {
            spoor_bin: None,
            duration: Duration::from_secs(20),
            rounds: 3,
            default_pipeline: false,
            pipeline_config: None,
            jaeger_bin: None,
            no_jaeger: false,
            spans: 2_000_000,
            queries: 50,
            seed: 1,
            concurrency: 8,
            batch_spans: 1000,
            rotel_bin: None,
            no_baseline: false,
            no_recovery: false,
            work_dir: None,
            keep_data: false,
            spoor_args: Vec::new(),
            out: None,
        }
    }
}

/// Why the suite could not run. A failing measurement inside a run is reported in the
/// [`BenchReport`](crate::BenchReport) instead.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: {message}\n--- last log lines ---\n{log}")]
    Child {
        name: String,
        message: String,
        log: String,
    },
    #[error("load generator: {0}")]
    Loadgen(#[from] spoor_loadgen::LoadgenError),
    #[error("{0}")]
    Setup(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
