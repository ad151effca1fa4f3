#!/usr/bin/env bash
# Bounded fuzzing of every wire decoder on stable Rust: mutations of valid seeds for
# SPOOR_FUZZ_SECS seconds in all (default 60). Coverage-guided runs: see fuzz/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export SPOOR_FUZZ_SECS=${SPOOR_FUZZ_SECS:-60}
cargo test --release --quiet --manifest-path "$root/fuzz/Cargo.toml" --no-default-features -- --nocapture
