#!/usr/bin/env bash
# Builds (release) and runs Spoor all-in-one; arguments go to spoor (see `spoor --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" --release --quiet
target=${CARGO_TARGET_DIR:-$root/target}
exec "$target/release/spoor" "$@"
