//! The `spoor` binary: parses flags, sets up logging, runs the server or a tool.

mod cli;
mod config;
mod encryption;
mod listen;
mod query;
mod run;
mod sink;
mod tenants;
mod tools;

use clap::{CommandFactory, FromArgMatches};

/// mimalloc, wrapped by the heap profiler's sampler: it samples only once the `pprof`
/// extension is configured, and costs one atomic load per allocation and free until then.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: spoor_heap::Sampled<mimalloc::MiMalloc> =
    spoor_heap::Sampled::new(mimalloc::MiMalloc);

#[cfg(not(feature = "mimalloc"))]
#[global_allocator]
static GLOBAL: spoor_heap::Sampled<std::alloc::System> =
    spoor_heap::Sampled::new(std::alloc::System);

fn main() -> anyhow::Result<()> {
    let matches = cli::Cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The flags given explicitly (not defaults), wherever the run flags were parsed.
    let run_matches = match matches.subcommand() {
        Some((_, sub)) => sub,
        None => &matches,
    };
    let explicit = config::explicit_flags(run_matches);
    if matches!(cli.command, None | Some(cli::Command::Run(_))) {
        ensure_allocator_returns_memory();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("spoor");
    #[cfg(feature = "mimalloc")]
    builder.on_thread_park(collect_when_parked);
    let runtime = builder.build()?;
    match cli.command {
        None => serve(&runtime, cli.run, &explicit),
        Some(cli::Command::Run(args)) => serve(&runtime, *args, &explicit),
        Some(cli::Command::Validate(args)) => {
            init_logging("warn");
            if !config::validate(&args, &explicit)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(cli::Command::PrintConfig(args)) => {
            init_logging("warn");
            if !config::print(&args, &explicit)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(cli::Command::Tool(tool)) => {
            init_logging("warn");
            runtime.block_on(tools::run(tool))
        }
        Some(cli::Command::Loadgen(args)) => {
            init_logging("warn");
            let summary = runtime.block_on(spoor_loadgen::run(args))?;
            println!("{}", summary.to_json());
            Ok(())
        }
        Some(cli::Command::Query(args)) => {
            init_logging("warn");
            runtime.block_on(query::run(args))
        }
        Some(cli::Command::Bench(args)) => {
            init_logging("warn");
            let report = runtime.block_on(spoor_bench::run(args))?;
            print!("{}", report.table());
            Ok(())
        }
    }
}

fn serve(
    runtime: &tokio::runtime::Runtime,
    args: cli::RunArgs,
    explicit: &[String],
) -> anyhow::Result<()> {
    init_logging(&args.log);
    raise_open_file_limit();
    runtime.block_on(run::run(args, explicit))
}

fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Raises the soft limit on open files to the hard limit, so that idle or slow clients cannot
/// exhaust the (often 1024) default and make every listener refuse connections.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        tracing::info!(nofile = ?limit.current, "open file limit");
        return;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(from = ?limit.current, to = ?limit.maximum, "raised the open file limit")
        }
        Err(e) => {
            tracing::warn!(error = %e, soft = ?limit.current, "cannot raise the open file limit")
        }
    }
}

/// The purge delay the server runs with (unless the user set `MIMALLOC_PURGE_DELAY`).
const PURGE_DELAY_MS: &str = "100";

/// How often a worker thread collects its heap when it parks, at most.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// How often the purge thread gives expired arena memory back to the OS.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A tokio worker about to park collects its own heap (at most every [`COLLECT_EVERY`]):
/// pages freed on it, or by other threads into its pages, go back to the arenas, where the
/// purge delay starts. Only the owning thread can do that, and an idle worker stays parked.
#[cfg(feature = "mimalloc")]
fn collect_when_parked() {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    let due = LAST
        .get()
        .is_none_or(|last| now.duration_since(last) >= COLLECT_EVERY);
    if due {
        LAST.set(Some(now));
        spoor_heap::collect_thread_heap();
    }
}

/// Purges arena memory whose delay has passed, every [`PURGE_EVERY`], so an idle server gives
/// back what its workers collected before they parked (mimalloc purges only on allocator calls).
#[cfg(feature = "mimalloc")]
fn start_purge_thread() {
    let spawned = std::thread::Builder::new()
        .name("spoor-purge".into())
        .spawn(|| {
            loop {
                std::thread::sleep(PURGE_EVERY);
                spoor_heap::collect_thread_heap();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the allocator purge thread");
    }
}

/// mimalloc gives freed memory back to the OS only after a delay that is checked on later
/// allocator calls, so an idle server would keep the memory of closed connections and finished
/// requests for good (and `--memory-limit`, measured from RSS, could not recover). With
/// `MIMALLOC_PURGE_DELAY=0` it gives it back at once, but then every request's memory is fresh
/// pages faulted in again (a third of a lookup by id's CPU, `docs/performance-notes.md`). So the
/// server runs with a delay of [`PURGE_DELAY_MS`], each worker collects its heap when it parks
/// ([`collect_when_parked`]) and a thread purges what expired ([`start_purge_thread`]).
/// mimalloc reads the option from the environment, which safe Rust cannot change for the
/// running process, so the server re-executes itself once with it set (unless the user set it).
fn ensure_allocator_returns_memory() {
    #[cfg(feature = "mimalloc")]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "MIMALLOC_PURGE_DELAY";
        start_purge_thread();
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        let error = command.args(args).env(VAR, PURGE_DELAY_MS).exec();
        eprintln!(
            "warning: cannot re-execute with {VAR}={PURGE_DELAY_MS} ({error}); freed memory is returned late"
        );
    }
}
