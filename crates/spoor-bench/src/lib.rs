//! Spoor's benchmark harness: `spoor bench`.
//!
//! It runs the standard suite on this machine against the real `spoor` binary, started as a
//! child process on ephemeral ports with a fresh data directory, and against a receive-and-drop
//! baseline (rotel's `rotel-agent --exporter blackhole`, installed by `scripts/bench-setup.sh`)
//! under the same load, and optionally against Spoor with a pipeline config and Jaeger v2
//! all-in-one with Badger storage (`.cache/peers/jaeger/jaeger`, built by
//! `scripts/peers/build-jaeger.sh`; skipped with a note when absent):
//!
//! 1. ingest rounds: each round starts every peer on a fresh directory and sends the standard
//!    workload ([`spoor_loadgen`]) flat out for `--duration`, one peer after another (odd rounds
//!    in reverse order). Per peer: the median spans/s, the median server CPU seconds per
//!    million spans (`/proc/PID/stat` utime + stime), peak RSS; between peers, ratios paired
//!    within a round, then the median over rounds, so a burst of load from other processes on
//!    the machine moves them less than one long run each;
//! 2. WAL recovery: kill -9 right after Spoor's last ingest run, restart on the same
//!    directory, time until the admin port's `/health` answers 200;
//! 3. per storing peer (Spoor, Jaeger): preload `--spans` freshly generated spans, wait until
//!    the server idles (cut/compaction), stop cleanly, count bytes per span (for Spoor also per
//!    column, summed from `spoor tool inspect` over the blocks), reopen, then time trace-by-id
//!    and five kinds of search (`service`, `service+operation`, `service+attribute`, attribute
//!    only, minimum duration; 1 h window) over the Jaeger HTTP API, and for Spoor each search
//!    again in TraceQL over the Tempo API (`traceql …`, alternating with the Jaeger form query
//!    by query, with its p50 against the Jaeger form's: the same scan, so within about 10 %);
//!    with the peak RSS of each phase.
//!
//! ```text
//! spoor bench --spans 2000000 --default-pipeline --out bench.json  # ~15 min on 2 cores
//! spoor bench --duration 10s --rounds 2 --spans 200000 --queries 20  # quick check
//! spoor bench --spans 10000000                                     # the 10 M-span store
//! ```
//!
//! It prints a table ([`BenchReport::table`]) and, with `--out`, writes the report as JSON. It is
//! not a load test of a remote deployment: everything runs on 127.0.0.1.

mod args;
mod child;
mod http;
mod peers;
mod queries;
mod report;
mod rss;
pub mod stats;
mod store;
mod suite;

pub use args::{BenchArgs, BenchError};
pub use report::{
    BenchReport, IngestRun, PeerIngest, PhaseRss, QueryStats, Ratio, Recovery, Storage, StoreRun,
};
pub use suite::run;
