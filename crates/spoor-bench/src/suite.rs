//! The standard suite: baseline ingest, Spoor ingest, kill -9 recovery, preload + size, queries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spoor_loadgen::{LoadgenArgs, Summary};

use crate::child::{Process, cpu_seconds, dir_sizes, free_port, wait_tcp};
use crate::report::{BenchReport, IngestRun, Recovery, Storage};
use crate::{BenchArgs, BenchError, queries};

const START_TIMEOUT: Duration = Duration::from_secs(120);
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(600);
const STOP_TIMEOUT: Duration = Duration::from_secs(300);
const MIB: f64 = 1024.0 * 1024.0;

/// Listener flags the server is started with: ours on ephemeral ports, the rest off.
const ON: &[&str] = &["otlp-grpc", "query-http", "admin-http"];
const OFF: &[&str] = &[
    "otlp-http",
    "query-grpc",
    "health-http",
    "jaeger-thrift-compact",
    "jaeger-thrift-binary",
    "jaeger-thrift-http",
    "jaeger-grpc",
    "zipkin",
];

/// How to start the `spoor` server.
struct SpoorCmd {
    bin: PathBuf,
    /// Flags its `--help` lists.
    help: String,
    extra: Vec<String>,
}

struct Spoor {
    process: Process,
    otlp: SocketAddr,
    query: SocketAddr,
}

impl SpoorCmd {
    fn knows(&self, flag: &str) -> bool {
        self.help.contains(&format!("--{flag} "))
    }

    /// Whether `--storage disk` is accepted: the help text of `--storage`, up to the next flag,
    /// mentions `disk`.
    fn has_disk(&self) -> bool {
        let Some(at) = self.help.find("--storage ") else {
            return false;
        };
        let section = &self.help[at + 10..];
        let end = section.find("\n      --").unwrap_or(section.len());
        section[..end].contains("disk")
    }

    fn args(&self, data_dir: &Path) -> Vec<String> {
        let mut args = Vec::new();
        if self.knows("storage") {
            let kind = if self.has_disk() { "disk" } else { "memory" };
            args.extend(["--storage".into(), kind.into()]);
        }
        args.extend(["--data-dir".into(), data_dir.display().to_string()]);
        for flag in ON {
            args.extend([format!("--{flag}"), "127.0.0.1:0".into()]);
        }
        for flag in OFF.iter().filter(|f| self.knows(f)) {
            args.extend([format!("--{flag}"), "off".into()]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// Starts the server and waits until `/health` on the admin port answers 200.
    async fn start(
        &self,
        name: &str,
        data_dir: &Path,
        timeout: Duration,
    ) -> Result<Spoor, BenchError> {
        let mut process = Process::spawn(name, &self.bin, &self.args(data_dir))?;
        let listeners = process.wait_listeners(ON, timeout).await?;
        let addr = |n: &str| {
            listeners
                .get(n)
                .copied()
                .ok_or_else(|| BenchError::Setup(format!("no {n} listener")))
        };
        let (otlp, query, admin) = (addr("otlp-grpc")?, addr("query-http")?, addr("admin-http")?);
        process.wait_http_ok(admin, "/health", timeout).await?;
        Ok(Spoor {
            process,
            otlp,
            query,
        })
    }
}

fn loadgen_args(args: &BenchArgs, addr: SocketAddr) -> LoadgenArgs {
    LoadgenArgs {
        otlp_grpc: addr.to_string(),
        seed: args.seed,
        concurrency: args.concurrency,
        batch_spans: args.batch_spans,
        duration: Some(args.duration),
        // Back off and resend when the server refuses (429 / RESOURCE_EXHAUSTED), as OTel
        // exporters do: the rate measured is what a well-behaved client gets acknowledged.
        retries: 10,
        quiet: false,
        ..LoadgenArgs::default()
    }
}

fn ingest_run(
    target: &str,
    summary: Summary,
    rss: Option<u64>,
    cpu: Option<f64>,
    loadgen_cpu: Option<f64>,
) -> IngestRun {
    IngestRun {
        target: target.to_string(),
        spans_per_s: summary.spans_per_s,
        peak_rss_mib: rss.map(|b| b as f64 / MIB),
        server_cpu_s: cpu,
        loadgen_cpu_s: loadgen_cpu,
        loadgen: summary,
    }
}

fn cpu_delta(pid: u32, before: Option<f64>) -> Option<f64> {
    Some(cpu_seconds(pid)? - before?)
}

/// The rotel binary: the flag, or under `.cache/venvs/rotel` of the current directory or of an
/// ancestor of the `spoor` binary (a repository checkout).
fn find_rotel(args: &BenchArgs, spoor: &Path) -> Option<PathBuf> {
    if let Some(p) = &args.rotel_bin {
        return Some(p.clone());
    }
    let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    roots.extend(spoor.ancestors().map(Path::to_path_buf));
    for root in roots {
        let lib = root.join(".cache/venvs/rotel/lib");
        let Ok(pythons) = std::fs::read_dir(&lib) else {
            continue;
        };
        for py in pythons.flatten() {
            let agent = py.path().join("site-packages/rotel/rotel-agent");
            if agent.is_file() {
                return Some(agent);
            }
        }
    }
    None
}

async fn baseline(args: &BenchArgs, rotel: &Path) -> Result<IngestRun, BenchError> {
    let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let process = Process::spawn(
        "rotel",
        rotel,
        &[
            "start".into(),
            "--otlp-grpc-endpoint".into(),
            grpc.to_string(),
            "--otlp-http-endpoint".into(),
            http.to_string(),
            "--exporter".into(),
            "blackhole".into(),
        ],
    )?;
    if !wait_tcp(grpc, START_TIMEOUT).await {
        let _ = process.kill9().await;
        return Err(BenchError::Setup(format!("rotel did not listen on {grpc}")));
    }
    let cpu = cpu_seconds(process.pid());
    let own = cpu_seconds(std::process::id());
    let summary = spoor_loadgen::run(loadgen_args(args, grpc)).await;
    let own = cpu_delta(std::process::id(), own);
    let rss = process.peak_rss();
    let cpu = cpu_delta(process.pid(), cpu);
    process.kill9().await?;
    Ok(ingest_run(
        "rotel (receive-and-drop)",
        summary?,
        rss,
        cpu,
        own,
    ))
}

/// Runs the suite.
pub async fn run(args: BenchArgs) -> Result<BenchReport, BenchError> {
    let bin = match &args.spoor_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?,
    };
    let output = |flag: &str| {
        std::process::Command::new(&bin)
            .arg(flag)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let help = output("--help").map_err(|source| BenchError::Spawn {
        program: bin.clone(),
        source,
    })?;
    let mut report_note_storage = None;
    let cmd = SpoorCmd {
        bin: bin.clone(),
        help,
        extra: args.spoor_args.clone(),
    };
    if !cmd.has_disk() {
        report_note_storage = Some(
            "this spoor binary does not accept --storage disk: ran with --storage memory, so \
             there are no blocks, WAL or recovery to measure"
                .to_string(),
        );
    }
    let work = match &args.work_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("spoor-bench-")
            .tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("spoor-bench-").tempdir()?,
    };
    let mut report = BenchReport {
        spoor_bin: bin.display().to_string(),
        spoor_version: output("--version").ok().map(|v| v.trim().to_string()),
        args: args.clone(),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average_at_start: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
        baseline: None,
        ingest: None,
        ingest_ratio: None,
        recovery: None,
        storage: None,
        queries: Vec::new(),
        notes: report_note_storage.into_iter().collect(),
    };

    // 1. The receive-and-drop baseline.
    if args.no_baseline {
        report.notes.push("baseline skipped (--no-baseline)".into());
    } else if let Some(rotel) = find_rotel(&args, &bin) {
        eprintln!(
            "bench: baseline (rotel, receive-and-drop) for {:?}",
            args.duration
        );
        match baseline(&args, &rotel).await {
            Ok(run) => report.baseline = Some(run),
            Err(e) => report.notes.push(format!("baseline failed: {e}")),
        }
    } else {
        report.notes.push(
            "baseline skipped: rotel-agent not found (run scripts/bench-setup.sh or pass --rotel-bin)".into(),
        );
    }

    // 2. Spoor ingest, flat out, into a fresh store.
    let ingest_dir = work.path().join("ingest");
    eprintln!("bench: spoor ingest for {:?}", args.duration);
    let spoor = cmd.start("spoor", &ingest_dir, START_TIMEOUT).await?;
    let cpu = cpu_seconds(spoor.process.pid());
    let own = cpu_seconds(std::process::id());
    let summary = spoor_loadgen::run(loadgen_args(&args, spoor.otlp)).await?;
    let own = cpu_delta(std::process::id(), own);
    let rss = spoor.process.peak_rss();
    let cpu = cpu_delta(spoor.process.pid(), cpu);
    report.ingest = Some(ingest_run("spoor", summary, rss, cpu, own));
    if let (Some(s), Some(b)) = (&report.ingest, &report.baseline)
        && b.spans_per_s > 0.0
    {
        report.ingest_ratio = Some(s.spans_per_s / b.spans_per_s);
    }

    // 3. kill -9 right after ingest, then time the restart over the same directory.
    if args.no_recovery || !cmd.has_disk() {
        spoor.process.terminate(STOP_TIMEOUT).await?;
    } else {
        spoor.process.kill9().await?;
        let (total, _, wal) = dir_sizes(&ingest_dir);
        eprintln!("bench: restart after kill -9 ({wal} B of WAL)");
        let start = Instant::now();
        match cmd
            .start("spoor (recovering)", &ingest_dir, RECOVERY_TIMEOUT)
            .await
        {
            Ok(restarted) => {
                let seconds = start.elapsed().as_secs_f64();
                report.recovery = Some(Recovery {
                    wal_bytes: wal,
                    data_dir_bytes: total,
                    seconds,
                    seconds_per_gib_of_wal: (wal > 0)
                        .then(|| seconds / (wal as f64 / (1024.0 * MIB))),
                });
                if let Err(e) = restarted.process.terminate(STOP_TIMEOUT).await {
                    report
                        .notes
                        .push(format!("stopping the recovered server: {e}"));
                }
            }
            Err(e) => report.notes.push(format!("recovery failed: {e}")),
        }
    }
    if !args.keep_data {
        let _ = std::fs::remove_dir_all(&ingest_dir);
    }

    // 4. Preload freshly generated spans, flush, measure, reopen, query.
    let store_dir = work.path().join("store");
    eprintln!("bench: preload {} spans", args.spans);
    match store_phase(&cmd, &args, &store_dir, &mut report).await {
        Ok(()) => {}
        Err(e) => report.notes.push(format!("store phase failed: {e}")),
    }

    if args.keep_data {
        let kept = work.keep();
        report
            .notes
            .push(format!("data kept in {}", kept.display()));
    }
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| BenchError::Setup(format!("cannot render the report: {e}")))?;
        std::fs::write(out, json)?;
    }
    Ok(report)
}

async fn store_phase(
    cmd: &SpoorCmd,
    args: &BenchArgs,
    dir: &Path,
    report: &mut BenchReport,
) -> Result<(), BenchError> {
    let spoor = cmd.start("spoor", dir, START_TIMEOUT).await?;
    let ack_log = dir.with_extension("acks");
    let summary = spoor_loadgen::run(LoadgenArgs {
        duration: None,
        spans: Some(args.spans),
        pool: 0,
        // Every span must land: keep backing off while the server sheds load.
        retries: 50,
        ack_log: Some(ack_log.clone()),
        ..loadgen_args(args, spoor.otlp)
    })
    .await?;
    if summary.requests_failed > 0 {
        report.notes.push(format!(
            "preload: {} of {} requests failed ({:?})",
            summary.requests_failed, summary.requests_sent, summary.errors
        ));
    }
    let ids: Vec<String> = std::fs::read_to_string(&ack_log)?
        .lines()
        .map(str::to_string)
        .collect();
    if !args.keep_data {
        let _ = std::fs::remove_file(&ack_log);
    }
    if !cmd.has_disk() {
        // Nothing survives a restart: query the running server.
        eprintln!("bench: queries ({} of each kind)", args.queries);
        report.queries = queries::run_all(spoor.query, &ids, args.queries).await;
        return spoor.process.terminate(STOP_TIMEOUT).await;
    }
    let stop = Instant::now();
    spoor.process.terminate(STOP_TIMEOUT).await?;
    let shutdown_s = stop.elapsed().as_secs_f64();
    let (total, blocks, wal) = dir_sizes(dir);
    let spans = summary.spans_acked.max(1);
    let reopen = Instant::now();
    let spoor = cmd.start("spoor (reopened)", dir, RECOVERY_TIMEOUT).await?;
    report.storage = Some(Storage {
        spans: summary.spans_acked,
        traces: summary.traces_acked,
        wire_bytes_per_span: summary.bytes_per_span,
        data_dir_bytes: total,
        block_bytes: blocks,
        wal_bytes: wal,
        block_bytes_per_span: blocks as f64 / spans as f64,
        data_dir_bytes_per_span: total as f64 / spans as f64,
        shutdown_s,
        reopen_s: reopen.elapsed().as_secs_f64(),
    });
    if blocks == 0 {
        report.notes.push(
            "no *.parquet block files after a clean shutdown: stored bytes/span is not a block figure"
                .into(),
        );
    }
    eprintln!("bench: queries ({} of each kind)", args.queries);
    report.queries = queries::run_all(spoor.query, &ids, args.queries).await;
    spoor.process.terminate(STOP_TIMEOUT).await
}
