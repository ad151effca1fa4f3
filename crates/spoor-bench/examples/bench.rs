//! The bench harness on its own (before it is reachable as `spoor bench`):
//! `cargo run -p spoor-bench --release --example bench -- --spoor-bin target/release/spoor`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: spoor_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match spoor_bench::run(cli.args).await {
        Ok(report) => {
            print!("{}", report.table());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
