#!/usr/bin/env bash
# Builds the real OpenTelemetry Collector used as the peer of tests/peers (issue 10's differential
# test): installs the Collector's builder into .cache/peers/bin and builds the distribution described
# by scripts/peers/otelcol-builder.yaml into .cache/peers/otelcol/otelcol-spoor-peer.
# Everything Go downloads or caches lives under .cache/go. Idempotent: skips when the binary exists and
# the manifest (and this script) have not changed since the last build (hash stamp).
# Needs the Go toolchain and the Go module proxy; exits 0 with a message when Go is absent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# The builder's version; the manifest's components carry the same version.
# v0.161.0 is the newest whose whole import graph the Go module proxy serves here: from v0.162.0 the
# filter and transform processors import pkg/ottl/contexts/xprofile (and transform pkg/expohisto),
# whose module zips the proxy answers with 403 "not available" (the builder's `go mod tidy` fails).
builder_version=v0.161.0
manifest=scripts/peers/otelcol-builder.yaml
out=.cache/peers/otelcol
bin="$out/otelcol-spoor-peer"
stamp="$out/.stamp.sha256"

if ! command -v go >/dev/null 2>&1; then
  echo "build-otelcol: go not found; the otelcol peer is not built (tests/peers will skip)" >&2
  exit 0
fi
want=$(cat "$manifest" "$0" | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

export GOPATH="$root/.cache/go"
export GOMODCACHE="$root/.cache/go/mod"
export GOCACHE="$root/.cache/go/build"
export GOBIN="$root/.cache/peers/bin"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$GOBIN" "$out"

start=$(date +%s)
if [ ! -x "$GOBIN/builder" ] || [ "$("$GOBIN/builder" version 2>/dev/null | grep -o 'v[0-9.]*' | head -1)" != "$builder_version" ]; then
  echo "build-otelcol: installing go.opentelemetry.io/collector/cmd/builder@$builder_version"
  nice -n 19 go install "go.opentelemetry.io/collector/cmd/builder@$builder_version"
fi
echo "build-otelcol: building $bin from $manifest"
nice -n 19 "$GOBIN/builder" --config "$manifest"
"$bin" components | sed -n 1,4p
echo "$want" > "$stamp"
echo "build-otelcol: built in $(( $(date +%s) - start )) s"
