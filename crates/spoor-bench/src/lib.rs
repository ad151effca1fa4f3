//! Spoor's benchmark harness: `spoor bench`.
//!
//! It runs the standard suite on this machine against the real `spoor` binary, started as a
//! child process on ephemeral ports with a fresh data directory, and against a receive-and-drop
//! baseline (rotel's `rotel-agent --exporter blackhole`, installed by `scripts/bench-setup.sh`)
//! under the same load, so every throughput figure is also a ratio measured in the same run:
//!
//! 1. baseline ingest: the standard workload ([`spoor_loadgen`]) flat out for `--duration`;
//! 2. Spoor ingest: the same load into a fresh store (acknowledged spans/s, peak RSS, CPU);
//! 3. WAL recovery: kill -9 right after that ingest, restart on the same directory, time until
//!    the admin port's `/health` answers 200;
//! 4. storage: preload `--spans` freshly generated spans into another fresh store, stop cleanly,
//!    count block (`*.parquet`) bytes per span, reopen, then time trace-by-id and five kinds of
//!    search (`service`, `service+operation`, `service+attribute`, attribute only, minimum
//!    duration; 1 h look-back) over the Jaeger HTTP API.
//!
//! ```text
//! spoor bench --duration 60s --spans 2000000 --out bench.json   # ~5–10 min on 2 cores
//! spoor bench --duration 10s --spans 200000 --queries 20          # quick check
//! spoor bench --spans 10000000                                    # the 10 M-span store
//! ```
//!
//! It prints a table ([`BenchReport::table`]) and, with `--out`, writes the report as JSON. It is
//! not a load test of a remote deployment: everything runs on 127.0.0.1.

mod args;
mod child;
mod http;
mod queries;
mod report;
mod suite;

pub use args::{BenchArgs, BenchError};
pub use report::{BenchReport, IngestRun, QueryStats, Recovery, Storage};
pub use suite::run;
