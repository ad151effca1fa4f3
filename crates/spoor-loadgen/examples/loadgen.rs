//! The load generator on its own: `cargo run -p spoor-loadgen --release --example loadgen --
//! --otlp-grpc 127.0.0.1:4317 --duration 30s`. Prints the summary as JSON.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: spoor_loadgen::LoadgenArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match spoor_loadgen::run(cli.args).await {
        Ok(summary) => match serde_json::to_string_pretty(&summary) {
            Ok(json) => {
                println!("{json}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("loadgen: cannot render summary: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
