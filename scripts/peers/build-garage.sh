#!/usr/bin/env bash
# Builds Garage (https://garagehq.deuxfleurs.fr, an S3-compatible object store) into .cache/garage/bin/
# for the scale-out cluster test (tests/e2e/test_cluster_garage.py, issue 15).
# `cargo install garage --locked` from crates.io; the build uses its own target dir, deleted after install.
# Idempotent (hash stamp of this script). Takes 20-40 minutes on a loaded 2-core machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
version=2.5.0
out=.cache/garage
bin="$out/bin/garage"
stamp="$out/.stamp.sha256"
want=$(sha256sum "$0" | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
mkdir -p "$out"
target=${GARAGE_TARGET_DIR:-/work/target-scale-garage}
start=$(date +%s)
echo "build-garage: cargo install garage@$version into $out"
CARGO_TARGET_DIR="$target" nice -n "${GARAGE_NICE:-10}" cargo install garage --version "=$version" --locked --root "$out"
rm -rf "$target"
"$bin" --version 2>/dev/null || true
echo "$want" > "$stamp"
echo "build-garage: built in $(( $(date +%s) - start )) s"
