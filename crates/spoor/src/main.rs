//! The `spoor` binary: parses flags, sets up logging, runs the server or a tool.

mod cli;
mod config;
mod listen;
mod run;
mod sink;
mod tools;

use clap::{CommandFactory, FromArgMatches};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let matches = cli::Cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The flags given explicitly (not defaults), wherever the run flags were parsed.
    let run_matches = match matches.subcommand() {
        Some((_, sub)) => sub,
        None => &matches,
    };
    let explicit = config::explicit_flags(run_matches);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor")
        .build()?;
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
