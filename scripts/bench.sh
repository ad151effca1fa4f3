#!/usr/bin/env bash
# The standard benchmark suite: builds spoor (release), installs the receive-and-drop baseline
# (rotel) and builds the Jaeger v2 peer (Go, ~9 min cold, skipped where Go is absent) if needed,
# and runs `spoor bench --default-pipeline` with the given arguments, writing bench.json.
#
#   scripts/bench.sh                                   # the default suite (~15 min on 2 cores)
#   scripts/bench.sh --duration 10s --rounds 2 --spans 200000     # a quick run
#   scripts/bench.sh --spans 10000000                  # the 10 M-span store
#   SPOOR_BENCH_SPOOR_BIN=/path/to/spoor scripts/bench.sh   # measure another server binary
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rotel="$(scripts/bench-setup.sh | tail -n 1)"
scripts/peers/build-jaeger.sh || echo "bench: the jaeger peer could not be built; the bench skips it" >&2
cargo build --release -p spoor
spoor="${CARGO_TARGET_DIR:-$root/target}/release/spoor"
exec "$spoor" bench --default-pipeline --rotel-bin "$rotel" --out "${BENCH_OUT:-bench.json}" "$@"
