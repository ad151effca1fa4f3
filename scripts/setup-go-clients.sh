#!/usr/bin/env bash
# Builds the Go e2e client (tests/e2e/go_remote_sampled: the OpenTelemetry Go SDK with
# go.opentelemetry.io/contrib/samplers/jaegerremote) into .cache/go-clients/go_remote_sampled.
# Everything Go downloads or caches lives under .cache/go. Idempotent (hash stamp of the sources).
# Exits 0 with a message when Go is absent or the modules cannot be fetched; the test then skips.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
src=tests/e2e/go_remote_sampled
out=.cache/go-clients
bin="$out/go_remote_sampled"
stamp="$out/.stamp.sha256"
if ! command -v go >/dev/null 2>&1; then
  echo "setup-go-clients: go not found; the Go client is not built (its test skips)" >&2
  exit 0
fi
want=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" "$0" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
export GOPATH="$root/.cache/go"
export GOMODCACHE="$root/.cache/go/mod"
export GOCACHE="$root/.cache/go/build"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS=-mod=mod
mkdir -p "$out"
if ! (cd "$src" && go build -o "$root/$bin" .) >"$out/build.log" 2>&1; then
  echo "setup-go-clients: the Go client did not build (modules not fetched?); see $out/build.log; its test skips" >&2
  tail -5 "$out/build.log" >&2
  exit 0
fi
echo "$want" >"$stamp"
echo "setup-go-clients: built $bin"
