#!/usr/bin/env bash
# Builds the web UI (ui/dist) and the spoor binary. Extra arguments go to cargo build
# (e.g. --release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" build
echo "build: web UI"
npm --prefix "$root/ui" run build --silent >/dev/null
echo "build: spoor $*"
cargo build --manifest-path "$root/Cargo.toml" -p spoor "$@"
