//! A receive-and-drop OTLP gRPC server (decodes, counts, drops), to measure the load
//! generator's own ceiling: `cargo run -p spoor-loadgen --release --example drop_server -- ADDR`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, counts) = common::start().await?;
    eprintln!("listening listener=otlp-grpc addr={addr}");
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let spans = counts.spans.load(Ordering::Relaxed);
        if spans != last {
            eprintln!("{} spans/s", (spans - last) / 5);
            last = spans;
        }
    }
}
