//! The store phase of one peer: preload freshly generated spans, let background work settle,
//! flush and stop, measure the directory (and Spoor's per-column bytes), reopen, query; with
//! the peak RSS of each phase.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use spoor_loadgen::LoadgenArgs;

use crate::child::{block_files, cpu_seconds, disk_usage};
use crate::peers::{Kind, Peer, SpoorCmd};
use crate::report::{PhaseRss, Storage, StoreRun};
use crate::rss::RssSampler;
use crate::stats::{column_rows, parse_inspect_columns};
use crate::suite::{MIB, RECOVERY_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, loadgen_args};
use crate::{BenchArgs, BenchError, queries};

/// The settle phase ends once the server used less than this share of one core for
/// [`IDLE_FOR`], or after [`SETTLE_MAX`].
const IDLE_SHARE: f64 = 0.05;
const IDLE_FOR: Duration = Duration::from_secs(3);
const SETTLE_MAX: Duration = Duration::from_secs(90);

fn phase(name: &str, since: Instant, peak: Option<u64>) -> PhaseRss {
    PhaseRss {
        phase: name.into(),
        seconds: since.elapsed().as_secs_f64(),
        peak_rss_mib: peak.map(|b| b as f64 / MIB),
    }
}

/// Waits until `pid` idles (see [`IDLE_SHARE`]).
async fn settle(pid: u32) {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut idle_since: Option<Instant> = None;
    let mut last = cpu_seconds(pid);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_seconds(pid);
        let busy = match (last, now) {
            (Some(a), Some(b)) => b - a > IDLE_SHARE * 0.5,
            _ => return,
        };
        last = now;
        if busy {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= IDLE_FOR {
            return;
        }
    }
}

/// Sums `spoor tool inspect` over the block files under `dir`.
fn columns(cmd: &SpoorCmd, dir: &Path, notes: &mut Vec<String>) -> Vec<crate::stats::ColumnBytes> {
    let mut sums = BTreeMap::new();
    let mut rows = 0;
    for block in block_files(dir) {
        let out = std::process::Command::new(&cmd.bin)
            .args(["tool", "inspect"])
            .arg(&block)
            .output();
        let Ok(out) = out else { continue };
        match parse_inspect_columns(&String::from_utf8_lossy(&out.stdout), &mut sums) {
            Some(r) => rows += r,
            None => {
                notes.push(format!(
                    "no per-column byte table: `spoor tool inspect {}` printed none",
                    block.display()
                ));
                return Vec::new();
            }
        }
    }
    column_rows(&sums, rows)
}

/// Runs the store phase for `peer` in `dir`.
pub(crate) async fn run(
    peer: &Peer,
    cmd: &SpoorCmd,
    args: &BenchArgs,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<StoreRun, BenchError> {
    let running = peer.start(dir, START_TIMEOUT).await?;
    let pid = running.process.pid();
    let sampler = RssSampler::start(pid);
    let mut rss_phases = Vec::new();
    let ack_log = dir.with_extension("acks");
    let t = Instant::now();
    let summary = spoor_loadgen::run(LoadgenArgs {
        duration: None,
        spans: Some(args.spans),
        pool: 0,
        // Every span must land: keep backing off while the server sheds load.
        retries: 50,
        ack_log: Some(ack_log.clone()),
        ..loadgen_args(args, running.otlp)
    })
    .await;
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = running.process.kill9().await;
            return Err(e.into());
        }
    };
    rss_phases.push(phase("ingest (preload)", t, sampler.take_peak()));
    if summary.requests_failed > 0 {
        notes.push(format!(
            "{} preload: {} of {} requests failed ({:?})",
            peer.name, summary.requests_failed, summary.requests_sent, summary.errors
        ));
    }
    // Sorted, so every peer is asked for the same trace ids (the same seed generates the same
    // traces; the order they are acknowledged in differs).
    let mut ids: Vec<String> = std::fs::read_to_string(&ack_log)?
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut store = StoreRun {
        target: peer.name.clone(),
        preload_spans_per_s: summary.spans_per_s,
        storage: None,
        rss_phases: Vec::new(),
        columns: Vec::new(),
        queries: Vec::new(),
    };
    let Some(query) = running.query else {
        let _ = running.process.kill9().await;
        return Ok(store);
    };
    let is_spoor = matches!(peer.kind, Kind::Spoor(_));
    if is_spoor && !cmd.has_disk() {
        // Nothing survives a restart: query the running server.
        let t = Instant::now();
        store.queries = queries::run_all(query, running.tempo, &ids, args.queries).await;
        rss_phases.push(phase("queries", t, sampler.take_peak()));
        store.rss_phases = rss_phases;
        running.process.terminate(STOP_TIMEOUT).await?;
        return Ok(store);
    }
    let t = Instant::now();
    settle(pid).await;
    rss_phases.push(phase(
        "settle after ingest (cut/compaction)",
        t,
        sampler.take_peak(),
    ));
    let t = Instant::now();
    running.process.terminate(STOP_TIMEOUT).await?;
    let shutdown_s = t.elapsed().as_secs_f64();
    rss_phases.push(phase("flush + shutdown", t, sampler.take_peak()));
    drop(sampler);
    let usage = disk_usage(dir);
    if is_spoor {
        store.columns = columns(cmd, dir, notes);
        if usage.blocks == 0 {
            notes.push(
                "no *.parquet block files after a clean shutdown: stored bytes/span is not a block figure"
                    .into(),
            );
        }
    }
    let spans = summary.spans_acked.max(1) as f64;
    let t = Instant::now();
    let reopened = peer.start(dir, RECOVERY_TIMEOUT).await?;
    let reopen_s = t.elapsed().as_secs_f64();
    rss_phases.push(phase("reopen", t, reopened.process.peak_rss()));
    store.storage = Some(Storage {
        spans: summary.spans_acked,
        traces: summary.traces_acked,
        wire_bytes_per_span: summary.bytes_per_span,
        data_dir_bytes: usage.apparent,
        allocated_bytes: usage.allocated,
        block_bytes: usage.blocks,
        wal_bytes: usage.wal,
        block_bytes_per_span: (usage.blocks > 0).then(|| usage.blocks as f64 / spans),
        data_dir_bytes_per_span: usage.apparent as f64 / spans,
        allocated_bytes_per_span: usage.allocated as f64 / spans,
        shutdown_s,
        reopen_s,
    });
    let sampler = RssSampler::start(reopened.process.pid());
    eprintln!(
        "bench: {}: queries ({} of each kind)",
        peer.name, args.queries
    );
    let t = Instant::now();
    let query = reopened.query.unwrap_or(query);
    store.queries = queries::run_all(query, reopened.tempo, &ids, args.queries).await;
    rss_phases.push(phase("queries", t, sampler.take_peak()));
    store.rss_phases = rss_phases;
    reopened.process.terminate(STOP_TIMEOUT).await?;
    Ok(store)
}
