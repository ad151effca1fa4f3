#!/usr/bin/env bash
# Builds the spoor binary with its web UI. Extra arguments go to cargo build (e.g. --release).
# cargo builds ui/dist when it is missing or stale (crates/spoor-ui/build.rs); here a UI that cannot
# be built (no npm, a failing npm step) stops the build instead of giving a binary without it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
echo "build: spoor with its web UI $*"
SPOOR_UI_BUILD=require cargo build --manifest-path "$root/Cargo.toml" -p spoor "$@"
