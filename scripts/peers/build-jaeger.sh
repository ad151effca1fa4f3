#!/usr/bin/env bash
# Builds Jaeger v2 all-in-one (github.com/jaegertracing/jaeger/cmd/jaeger) into .cache/peers/jaeger/
# for tests/peers and the benchmark's second peer (issue 11).
# Jaeger tags each v2 release also as v1.x on the same module path; Go resolves the v1 tag
# (v1.76.0 is the same commit as Jaeger v2.13.0) because the module path has no /v2 suffix.
# Everything Go downloads or caches lives under .cache/go. Idempotent (hash stamp of this script).
# Needs the Go toolchain and the Go module proxy; exits 0 with a message when Go is absent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
version=v1.76.0
out=.cache/peers/jaeger
bin="$out/jaeger"
stamp="$out/.stamp.sha256"

if ! command -v go >/dev/null 2>&1; then
  echo "build-jaeger: go not found; the jaeger peer is not built (tests/peers will skip)" >&2
  exit 0
fi
want=$(sha256sum "$0" | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

export GOPATH="$root/.cache/go"
export GOMODCACHE="$root/.cache/go/mod"
export GOCACHE="$root/.cache/go/build"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$out"

start=$(date +%s)
# `go install module/cmd/jaeger@version` refuses modules whose go.mod has replace directives (Jaeger's
# has), so download the module's source and build it as the main module.
echo "build-jaeger: building github.com/jaegertracing/jaeger/cmd/jaeger@$version"
dir=$(nice -n 19 go mod download -json "github.com/jaegertracing/jaeger@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
src="$root/.cache/peers/jaeger-src"
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
(cd "$src" && nice -n 19 go build -trimpath -ldflags=-s -o "$root/$bin" ./cmd/jaeger)
"$bin" version 2>/dev/null | head -3 || true
echo "$want" > "$stamp"
echo "build-jaeger: built in $(( $(date +%s) - start )) s"
