#!/usr/bin/env bash
# The standard benchmark suite: builds spoor (release), installs the receive-and-drop baseline
# (rotel) if needed, and runs `spoor bench` with the given arguments, writing bench.json.
#
#   scripts/bench.sh                                   # the default suite (~5-10 min on 2 cores)
#   scripts/bench.sh --duration 10s --spans 200000     # a quick run
#   scripts/bench.sh --spans 10000000                  # the 10 M-span store
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rotel="$(scripts/bench-setup.sh | tail -n 1)"
cargo build --release -p spoor
spoor="${CARGO_TARGET_DIR:-$root/target}/release/spoor"
exec "$spoor" bench --rotel-bin "$rotel" --out "${BENCH_OUT:-bench.json}" "$@"
