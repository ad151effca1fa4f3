#!/usr/bin/env bash
# The load generator's own ceiling: the same load (standard workload, flat out) against an
# in-process receive-and-drop server (the spoor-loadgen `drop_server` example: decode, count,
# drop) and against rotel's receive-and-drop collector, one after the other in one run.
#
#   scripts/bench-loadgen.sh [SECONDS] [extra loadgen flags...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
secs="${1:-20}"
shift || true
rotel="$(scripts/bench-setup.sh | tail -n 1)"
cargo build --release -p spoor-loadgen --example loadgen --example drop_server
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rate() {
  python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(
    f"{s['spans_per_s']:.0f} spans/s acked, {s['requests_failed']} failed, "
    f"p99 {s['latency']['p99_ms']:.0f} ms, generator wait {s['generator_wait_s']:.1f} s, "
    f"{s['bytes_per_span']:.0f} B/span on the wire"
)
PY
}

"$bin/drop_server" 2>"$work/drop.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'addr=' "$work/drop.log" && break; sleep 0.1; done
drop_addr="$(grep -o 'addr=[0-9.:]*' "$work/drop.log" | head -n1 | cut -d= -f2)"
"$bin/loadgen" --otlp-grpc "$drop_addr" --duration "${secs}s" --quiet "$@" >"$work/drop.json"
echo "drop_server (in-process Rust, decode+drop): $(rate "$work/drop.json")"
kill "${pids[0]}"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
hport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$rotel" start --otlp-grpc-endpoint "127.0.0.1:$port" --otlp-http-endpoint "127.0.0.1:$hport" \
  --exporter blackhole >"$work/rotel.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$bin/loadgen" --otlp-grpc "127.0.0.1:$port" --duration "${secs}s" --quiet "$@" >"$work/rotel.json"
echo "rotel (receive-and-drop, blackhole):        $(rate "$work/rotel.json")"
