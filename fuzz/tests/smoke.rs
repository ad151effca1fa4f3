//! A bounded fuzz run on stable Rust (cargo-fuzz needs nightly): every target is fed mutations
//! of valid seeds for `SPOOR_FUZZ_SECS` seconds in total (default 60), and must not panic.
//!
//! `cargo test --release --manifest-path fuzz/Cargo.toml --no-default-features -- --nocapture`

use std::time::{Duration, Instant};

use spoor_fuzz::{Mutator, targets};

#[test]
fn every_decoder_survives_mutated_seeds() {
    let total: u64 = std::env::var("SPOOR_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let targets = targets();
    let per_target = Duration::from_millis(total * 1000 / targets.len() as u64);
    let mut grand_total = 0u64;
    for (i, (name, run, seeds)) in targets.iter().enumerate() {
        let mut mutator = Mutator::new(0x5eed_0000 + i as u64);
        // The seeds themselves, and the empty input.
        run(&[]);
        for seed in seeds {
            run(seed);
        }
        let mut corpus: Vec<Vec<u8>> = seeds.clone();
        let start = Instant::now();
        let mut count = 0u64;
        while start.elapsed() < per_target {
            for _ in 0..256 {
                let a = &corpus[count as usize % corpus.len()];
                let b = &corpus[(count as usize / 7) % corpus.len()];
                let input = mutator.mutate(a, b);
                run(&input);
                // Keep some mutants as new parents so edits accumulate.
                if count % 64 == 0 && corpus.len() < 256 && input.len() < 64 * 1024 {
                    corpus.push(input);
                }
                count += 1;
            }
        }
        println!("fuzz smoke {name}: {count} inputs in {:?}", start.elapsed());
        grand_total += count;
    }
    println!("fuzz smoke total: {grand_total} inputs");
}
