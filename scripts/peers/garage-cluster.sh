#!/usr/bin/env bash
# Starts a 3-node Garage cluster (replication factor 3) on loopback for the scale-out cluster test
# (tests/e2e/test_cluster_garage.py), with its data under DIR, and creates the bucket `spoor` and a
# key with fixed credentials. Prints `endpoint=… bucket=… key_id=… secret=… pids=…` lines.
#
# Usage: scripts/peers/garage-cluster.sh DIR BASE_PORT     (ports BASE_PORT .. BASE_PORT+8)
#        scripts/peers/garage-cluster.sh --stop DIR
# Needs .cache/garage/bin/garage (scripts/peers/build-garage.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
garage="${GARAGE_BIN:-$root/.cache/garage/bin/garage}"
if [ "${1:-}" = "--stop" ]; then
  for f in "$2"/node*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  exit 0
fi
dir=$1
base=$2
[ -x "$garage" ] || { echo "garage not built: run scripts/peers/build-garage.sh" >&2; exit 2; }
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$dir"
for i in 1 2 3; do
  n="$dir/node$i"
  mkdir -p "$n/meta" "$n/data"
  rpc=$((base + 3 * (i - 1)))
  s3=$((rpc + 1))
  admin=$((rpc + 2))
  cat > "$n/garage.toml" <<TOML
metadata_dir = "$n/meta"
data_dir = "$n/data"
db_engine = "lmdb"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
  nohup "$garage" -c "$n/garage.toml" server > "$n/log" 2>&1 &
  echo $! > "$n/pid"
done
g() { "$garage" -c "$dir/node1/garage.toml" "$@"; }
# retry N CMD…: runs CMD until it succeeds, N times 0.2 s apart (the cluster settles after each step).
retry() {
  local n=$1; shift
  for _ in $(seq 1 "$n"); do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
retry 150 g status
# `garage node id` reads the node key that the server writes into metadata_dir when it starts.
ids=()
for i in 1 2 3; do
  c="$dir/node$i/garage.toml"
  retry 150 "$garage" -c "$c" node id -q
  id=$("$garage" -c "$c" node id -q 2> /dev/null | cut -d@ -f1)
  ids+=("$id")
  [ "$i" -gt 1 ] && retry 50 g node connect "$id@127.0.0.1:$((base + 3 * (i - 1)))"
done
for id in "${ids[@]}"; do retry 20 g layout assign -z dc1 -c 1G "$id"; done
retry 20 g layout apply --version 1
# Garage accepts imported keys of 8+ characters [A-Za-z0-9_.-] with secrets of 16+ printable characters.
key_id=GK0123456789abcdef01234567
key_secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
retry 100 g bucket create spoor
retry 50 g key import --yes "$key_id" "$key_secret" -n spoor-test
retry 50 g bucket allow --read --write --owner spoor --key "$key_id"
echo "endpoint=http://127.0.0.1:$((base + 1))"
echo "endpoints=http://127.0.0.1:$((base + 1)),http://127.0.0.1:$((base + 4)),http://127.0.0.1:$((base + 7))"
echo "bucket=spoor"
echo "key_id=$key_id"
echo "secret=$key_secret"
echo "pids=$(cat "$dir"/node*/pid | tr '\n' ' ')"
