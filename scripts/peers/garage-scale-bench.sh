#!/usr/bin/env bash
# Ingest spans/s for 1, 2 and 3 `--role ingest` nodes on a 3-node Garage cluster (replication
# factor 3), with each ingest node's and each Garage node's CPU (issue 15, README "Scale out").
# Starts the cluster with scripts/peers/garage-cluster.sh in a temporary directory, runs
# scripts/peers/scale-bench.py against it (ingest node k talks to Garage node k mod 3), then stops
# the cluster and deletes its data.
#
# Usage: SPOOR_BIN=target/debug/spoor scripts/peers/garage-scale-bench.sh [DURATION_S]
# Needs .cache/garage/bin/garage (scripts/peers/build-garage.sh) and the e2e venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py="${PYTHON:-$root/.cache/venvs/e2e/bin/python}"
duration=${1:-20}
dir=$(mktemp -d /tmp/spoor-garage-bench.XXXXXX)
trap 'bash "$root/scripts/peers/garage-cluster.sh" --stop "$dir"; rm -rf "$dir"' EXIT
base=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] % 10000 + 20000)')
info=$(bash "$root/scripts/peers/garage-cluster.sh" "$dir" "$base")
get() { printf '%s\n' "$info" | sed -n "s/^$1=//p"; }
export AWS_ACCESS_KEY_ID=$(get key_id) AWS_SECRET_ACCESS_KEY=$(get secret) AWS_REGION=garage
export SCALE_BENCH_BUCKET=$(get bucket) SCALE_BENCH_STORE_PIDS="$(get pids)"
echo "garage: $(get endpoints) (pids $(get pids))"
"$py" "$root/scripts/peers/scale-bench.py" "$(get endpoints)" "$duration"
