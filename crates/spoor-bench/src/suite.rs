//! The standard suite: alternating ingest rounds over every peer, kill -9 recovery, then per
//! storing peer a preload, size, memory per phase and queries.

use std::path::Path;
use std::time::{Duration, Instant};

use spoor_loadgen::LoadgenArgs;

use crate::child::{cpu_seconds, disk_usage};
use crate::peers::{DEFAULT_PIPELINE, Kind, Peer, SpoorCmd, find_jaeger, find_rotel};
use crate::report::{BenchReport, IngestRun, PeerIngest, Ratio, Recovery};
use crate::stats::{cpu_s_per_million, median, paired_ratio};
use crate::{BenchArgs, BenchError, store};

pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(120);
pub(crate) const RECOVERY_TIMEOUT: Duration = Duration::from_secs(600);
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

pub(crate) const BASELINE: &str = "rotel (receive-and-drop)";
pub(crate) const SPOOR: &str = "spoor";
pub(crate) const PIPELINE: &str = "spoor (pipeline config)";
pub(crate) const JAEGER: &str = "jaeger v2 (badger)";

pub(crate) fn loadgen_args(args: &BenchArgs, addr: std::net::SocketAddr) -> LoadgenArgs {
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

pub(crate) fn cpu_delta(pid: u32, before: Option<f64>) -> Option<f64> {
    Some(cpu_seconds(pid)? - before?)
}

fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The peers of this run, in round order, with notes on the ones skipped.
fn peers(
    args: &BenchArgs,
    cmd: &SpoorCmd,
    work: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Peer>, BenchError> {
    let mut peers = Vec::new();
    if args.no_baseline {
        notes.push("baseline skipped (--no-baseline)".into());
    } else if let Some(rotel) = find_rotel(args.rotel_bin.as_deref(), &cmd.bin) {
        peers.push(Peer {
            name: BASELINE.into(),
            kind: Kind::Baseline(rotel),
        });
    } else {
        notes.push(
            "baseline skipped: rotel-agent not found (run scripts/bench-setup.sh or pass --rotel-bin)"
                .into(),
        );
    }
    peers.push(Peer {
        name: SPOOR.into(),
        kind: Kind::Spoor(cmd.clone()),
    });
    let config = match &args.pipeline_config {
        Some(p) => Some(p.clone()),
        None if args.default_pipeline => {
            let p = work.join("default-pipeline.yaml");
            std::fs::write(&p, DEFAULT_PIPELINE)?;
            Some(p)
        }
        None => None,
    };
    if let Some(config) = config {
        let mut with_config = cmd.clone();
        with_config
            .extra
            .extend(["--config".into(), config.display().to_string()]);
        peers.push(Peer {
            name: PIPELINE.into(),
            kind: Kind::Spoor(with_config),
        });
    }
    if args.no_jaeger {
        notes.push("jaeger peer skipped (--no-jaeger)".into());
    } else if let Some(jaeger) = find_jaeger(args.jaeger_bin.as_deref(), &cmd.bin) {
        peers.push(Peer {
            name: JAEGER.into(),
            kind: Kind::Jaeger(jaeger),
        });
    } else {
        notes.push(
            "jaeger peer skipped: .cache/peers/jaeger/jaeger not found (scripts/peers/build-jaeger.sh \
             builds it where Go and its module proxy are reachable; or pass --jaeger-bin)"
                .into(),
        );
    }
    Ok(peers)
}

/// One ingest run: start the peer on a fresh directory, send flat out for `--duration`.
async fn ingest_once(
    peer: &Peer,
    args: &BenchArgs,
    dir: &Path,
    round: u32,
) -> Result<(IngestRun, crate::peers::Running), BenchError> {
    let running = peer.start(dir, START_TIMEOUT).await?;
    let pid = running.process.pid();
    let cpu = cpu_seconds(pid);
    let own = cpu_seconds(std::process::id());
    let summary = match spoor_loadgen::run(loadgen_args(args, running.otlp)).await {
        Ok(s) => s,
        Err(e) => {
            let _ = running.process.kill9().await;
            return Err(e.into());
        }
    };
    let own = cpu_delta(std::process::id(), own);
    let rss = running.process.peak_rss();
    let cpu = cpu_delta(pid, cpu);
    let run = IngestRun {
        target: peer.name.clone(),
        round,
        spans_per_s: summary.spans_per_s,
        peak_rss_mib: rss.map(|b| b as f64 / MIB),
        server_cpu_s: cpu,
        server_cpu_s_per_m_spans: cpu_s_per_million(cpu, summary.spans_acked),
        loadgen_cpu_s: own,
        loadgen: summary,
    };
    Ok((run, running))
}

/// Per-peer medians over the rounds.
pub(crate) fn summarize(peers: &[String], runs: &[IngestRun]) -> Vec<PeerIngest> {
    peers
        .iter()
        .filter_map(|p| {
            let mine: Vec<&IngestRun> = runs.iter().filter(|r| &r.target == p).collect();
            let rates: Vec<f64> = mine.iter().map(|r| r.spans_per_s).collect();
            let cpu: Vec<f64> = mine
                .iter()
                .filter_map(|r| r.server_cpu_s_per_m_spans)
                .collect();
            Some(PeerIngest {
                target: p.clone(),
                rounds: mine.len(),
                median_spans_per_s: median(&rates)?,
                min_spans_per_s: rates.iter().copied().fold(f64::INFINITY, f64::min),
                max_spans_per_s: rates.iter().copied().fold(0.0, f64::max),
                median_server_cpu_s_per_m_spans: median(&cpu),
                max_peak_rss_mib: mine.iter().filter_map(|r| r.peak_rss_mib).reduce(f64::max),
                spans_acked: mine.iter().map(|r| r.loadgen.spans_acked).sum(),
                requests_failed: mine.iter().map(|r| r.loadgen.requests_failed).sum(),
                requests_retried: mine.iter().map(|r| r.loadgen.requests_retried).sum(),
            })
        })
        .collect()
}

/// `a` against `b`, paired within rounds.
pub(crate) fn ratio(runs: &[IngestRun], rounds: u32, a: &str, b: &str) -> Option<Ratio> {
    let find = |t: &str, round: u32| runs.iter().find(|r| r.target == t && r.round == round);
    let mut rates = Vec::new();
    let mut cpu = Vec::new();
    for round in 0..rounds {
        let (ra, rb) = (find(a, round), find(b, round));
        rates.push((ra.map(|r| r.spans_per_s), rb.map(|r| r.spans_per_s)));
        cpu.push((
            ra.and_then(|r| r.server_cpu_s_per_m_spans),
            rb.and_then(|r| r.server_cpu_s_per_m_spans),
        ));
    }
    let spans_per_s = paired_ratio(&rates);
    spans_per_s.map(|s| Ratio {
        a: a.into(),
        b: b.into(),
        spans_per_s: Some(s),
        cpu_per_span: paired_ratio(&cpu),
    })
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
    let cmd = SpoorCmd {
        bin: bin.clone(),
        help,
        extra: args.spoor_args.clone(),
    };
    let mut notes = Vec::new();
    if !cmd.has_disk() {
        notes.push(
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
    let peers = peers(&args, &cmd, work.path(), &mut notes)?;
    let mut report = BenchReport {
        spoor_bin: bin.display().to_string(),
        spoor_version: output("--version").ok().map(|v| v.trim().to_string()),
        jaeger_bin: peers.iter().find_map(|p| match &p.kind {
            Kind::Jaeger(b) => Some(b.display().to_string()),
            _ => None,
        }),
        args: args.clone(),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average_at_start: load_average(),
        load_average_at_end: None,
        ingest_runs: Vec::new(),
        ingest: Vec::new(),
        ratios: Vec::new(),
        recovery: None,
        stores: Vec::new(),
        notes,
    };

    // 1. Ingest rounds. Odd rounds run the peers in reverse order (A B, B A, …), so a slow
    //    drift in the machine's load does not always favour the same peer.
    for round in 0..args.rounds {
        let mut order: Vec<&Peer> = peers.iter().collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let last = round + 1 == args.rounds;
        for peer in order {
            let dir = work
                .path()
                .join(format!("ingest-{round}-{}", slug(&peer.name)));
            eprintln!(
                "bench: round {}/{}: {} ingest for {:?}",
                round + 1,
                args.rounds,
                peer.name,
                args.duration
            );
            match ingest_once(peer, &args, &dir, round).await {
                Ok((run, running)) => {
                    report.ingest_runs.push(run);
                    let recover = last && peer.name == SPOOR && !args.no_recovery && cmd.has_disk();
                    running.process.kill9().await?;
                    if recover {
                        report.recovery = recovery(&cmd, &dir, &mut report.notes).await;
                    }
                }
                Err(e) => report
                    .notes
                    .push(format!("round {round}: {} ingest failed: {e}", peer.name)),
            }
            if !args.keep_data {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    let names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    report.ingest = summarize(&names, &report.ingest_runs);
    let pairs = [(SPOOR, BASELINE), (PIPELINE, SPOOR), (SPOOR, JAEGER)];
    report.ratios = pairs
        .iter()
        .filter_map(|(a, b)| ratio(&report.ingest_runs, args.rounds, a, b))
        .collect();

    // 2. Per storing peer: preload freshly generated spans, settle, flush, measure, reopen,
    //    query.
    for peer in peers
        .iter()
        .filter(|p| p.name == SPOOR || matches!(p.kind, Kind::Jaeger(_)))
    {
        let dir = work.path().join(format!("store-{}", slug(&peer.name)));
        eprintln!("bench: {}: preload {} spans", peer.name, args.spans);
        match store::run(peer, &cmd, &args, &dir, &mut report.notes).await {
            Ok(s) => report.stores.push(s),
            Err(e) => report
                .notes
                .push(format!("{} store phase failed: {e}", peer.name)),
        }
        if !args.keep_data {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(dir.with_extension("acks"));
            let _ = std::fs::remove_file(dir.with_extension("jaeger.yaml"));
        }
    }
    report.load_average_at_end = load_average();

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

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Restart over the directory of a Spoor killed with -9 during ingest; time until ready.
async fn recovery(cmd: &SpoorCmd, dir: &Path, notes: &mut Vec<String>) -> Option<Recovery> {
    let usage = disk_usage(dir);
    eprintln!("bench: restart after kill -9 ({} B of WAL)", usage.wal);
    let peer = Peer {
        name: "spoor (recovering)".into(),
        kind: Kind::Spoor(cmd.clone()),
    };
    let start = Instant::now();
    match peer.start(dir, RECOVERY_TIMEOUT).await {
        Ok(restarted) => {
            let seconds = start.elapsed().as_secs_f64();
            if let Err(e) = restarted.process.terminate(STOP_TIMEOUT).await {
                notes.push(format!("stopping the recovered server: {e}"));
            }
            Some(Recovery {
                wal_bytes: usage.wal,
                data_dir_bytes: usage.apparent,
                seconds,
                seconds_per_gib_of_wal: (usage.wal > 0)
                    .then(|| seconds / (usage.wal as f64 / (1024.0 * MIB))),
            })
        }
        Err(e) => {
            notes.push(format!("recovery failed: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_loadgen::Summary;

    fn run(target: &str, round: u32, rate: f64, cpu_per_m: f64) -> IngestRun {
        IngestRun {
            target: target.into(),
            round,
            spans_per_s: rate,
            peak_rss_mib: Some(rate / 1000.0),
            server_cpu_s: Some(1.0),
            server_cpu_s_per_m_spans: Some(cpu_per_m),
            loadgen_cpu_s: None,
            loadgen: Summary::default(),
        }
    }

    #[test]
    fn medians_and_paired_ratios_over_rounds() {
        // Round 1 is hit by a noisy neighbour: both peers drop, the paired ratio does not.
        let runs = vec![
            run(BASELINE, 0, 100_000.0, 2.0),
            run(SPOOR, 0, 50_000.0, 10.0),
            run(SPOOR, 1, 10_000.0, 12.0),
            run(BASELINE, 1, 20_000.0, 2.4),
            run(BASELINE, 2, 90_000.0, 2.0),
            run(SPOOR, 2, 45_000.0, 10.0),
        ];
        let s = summarize(&[BASELINE.into(), SPOOR.into(), JAEGER.into()], &runs);
        assert_eq!(s.len(), 2, "a peer without runs is left out");
        assert_eq!(s[1].target, SPOOR);
        assert_eq!(s[1].median_spans_per_s, 45_000.0);
        assert_eq!(s[1].min_spans_per_s, 10_000.0);
        assert_eq!(s[1].max_spans_per_s, 50_000.0);
        assert_eq!(s[1].median_server_cpu_s_per_m_spans, Some(10.0));
        assert_eq!(s[1].max_peak_rss_mib, Some(50.0));
        let r = ratio(&runs, 3, SPOOR, BASELINE).expect("ratio");
        assert_eq!(r.spans_per_s, Some(0.5));
        assert_eq!(r.cpu_per_span, Some(5.0));
        assert!(ratio(&runs, 3, SPOOR, JAEGER).is_none());
    }

    #[test]
    fn slugs_are_path_safe() {
        assert_eq!(slug(PIPELINE), "spoor--pipeline-config-");
    }
}
